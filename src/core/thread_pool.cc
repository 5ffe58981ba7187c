#include "core/thread_pool.h"

#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <thread>

namespace flowps {
namespace {

class AsioThreadPool final : public ThreadPool {
 public:
  explicit AsioThreadPool(int n) : n_(n), pool_(static_cast<size_t>(n)) {}
  ~AsioThreadPool() override { pool_.join(); }
  void Schedule(std::function<void()> fn) override { asio::post(pool_, std::move(fn)); }
  int num_threads() const override { return n_; }

 private:
  int n_;
  asio::thread_pool pool_;
};

}  // namespace

std::unique_ptr<ThreadPool> NewAsioThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = std::max(1u, std::thread::hardware_concurrency());
  return std::make_unique<AsioThreadPool>(num_threads);
}

}  // namespace flowps

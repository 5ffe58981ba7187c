#include "core/thread_pool.h"

#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <pthread.h>

#include <thread>

namespace flowps {
namespace {

class AsioThreadPool final : public ThreadPool {
 public:
  explicit AsioThreadPool(int n) : n_(n), pool_(static_cast<size_t>(n)) {}
  ~AsioThreadPool() override { pool_.join(); }
  void Schedule(std::function<void()> fn) override {
    asio::post(pool_, [fn = std::move(fn)] {
      thread_local bool named = false;
      if (!named) NameThisThread("flowps-pool");
      named = true;
      fn();
    });
  }
  int num_threads() const override { return n_; }

 private:
  int n_;
  asio::thread_pool pool_;
};

}  // namespace

void NameThisThread(const char* name) {
  char shortened[16] = {};
  for (size_t i = 0; i + 1 < sizeof shortened && name[i] != '\0'; ++i) shortened[i] = name[i];
  pthread_setname_np(pthread_self(), shortened);
}

std::unique_ptr<ThreadPool> NewAsioThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = std::max(1u, std::thread::hardware_concurrency());
  return std::make_unique<AsioThreadPool>(num_threads);
}

}  // namespace flowps

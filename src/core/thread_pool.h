// ThreadPool: where compute runs (kernels, optimizer applies). An interface so
// that headers need not include Asio; main() owns the one AsioThreadPool of a
// process and passes it down. Thread safety: Schedule may be called from any thread.
#pragma once

#include <functional>
#include <memory>

namespace flowps {

class ThreadPool {
 public:
  virtual ~ThreadPool() = default;
  // Runs `fn` on some pool thread, soon. Never runs it inline.
  virtual void Schedule(std::function<void()> fn) = 0;
  virtual int num_threads() const = 0;
};

// A pool of `num_threads` threads on asio::thread_pool (0: one per core).
// Destruction waits for scheduled work to finish. Its threads are named
// "flowps-pool" (see NameThisThread).
std::unique_ptr<ThreadPool> NewAsioThreadPool(int num_threads = 0);

// Names the calling thread for ps, top and perf (at most 15 characters are
// kept). Each long-lived thread of a daemon names itself: "flowps-pool",
// "rpc-loop", "job", "input".
void NameThisThread(const char* name);

}  // namespace flowps

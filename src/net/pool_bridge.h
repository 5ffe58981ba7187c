// RunOnPool: run compute on the ThreadPool and get the result back on the
// calling thread's KJ event loop, so that the loop never computes.
//
// Call it on a thread with a KJ event loop (the RpcServer's, or a client's).
// `fn` runs on a pool thread; its result (or its exception, as a FAILED
// kj::Exception) resolves the returned promise on the calling loop through a
// cross-thread fulfiller. If the promise is dropped first, the result is
// discarded; `fn` still runs, so whatever it captures must outlive it (capture
// by value or shared_ptr, never references to the caller's stack).
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <type_traits>

#include <kj/async.h>
#include <kj/debug.h>

#include "core/thread_pool.h"

namespace flowps {

template <typename Fn>
auto RunOnPool(ThreadPool& pool, Fn fn) -> kj::Promise<std::invoke_result_t<Fn>> {
  using T = std::invoke_result_t<Fn>;
  struct Job {
    kj::Own<kj::CrossThreadPromiseFulfiller<T>> fulfiller;
    Fn fn;
  };
  auto paf = kj::newPromiseAndCrossThreadFulfiller<T>();
  // ThreadPool takes a copyable std::function: share the move-only job.
  auto job = std::make_shared<Job>(Job{kj::mv(paf.fulfiller), std::move(fn)});
  pool.Schedule([job]() {
    try {
      if constexpr (std::is_void_v<T>) {
        job->fn();
        job->fulfiller->fulfill();
      } else {
        job->fulfiller->fulfill(job->fn());
      }
    } catch (const kj::Exception& e) {
      job->fulfiller->reject(kj::cp(e));
    } catch (const std::exception& e) {
      job->fulfiller->reject(KJ_EXCEPTION(FAILED, "compute failed", e.what()));
    }
  });
  return kj::mv(paf.promise);
}

}  // namespace flowps

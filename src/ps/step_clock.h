// StepClock: a shard's global step and the callbacks waiting for it to reach
// a value (the "step tokens" of sync training).
//
// Thread safety: all methods may be called from any thread; callbacks run on
// the thread that calls WaitFor (step already reached) or Advance, never under
// the clock's lock.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "core/status.h"

namespace flowps::ps {

class StepClock {
 public:
  // The step reached, or why the step waited for will not come (see Fail).
  using Callback = std::function<void(StatusOr<int64_t> step)>;

  int64_t now() const;
  // Runs `done(now)` once now >= step: at once if it is already.
  void WaitFor(int64_t step, Callback done);
  // Sets the step (it only moves forward) and releases the waiters it satisfies.
  void Advance(int64_t step);
  // Answers `why` to every waiter of a step <= `step` (a step that was dropped).
  void Fail(int64_t step, const Status& why);
  // Sets the step unconditionally (restore from a checkpoint) and releases the
  // waiters it satisfies; a waiter of a later step (the shard was rolled back
  // under it) is answered Aborted, since that step will be trained again.
  void Reset(int64_t step);

 private:
  void Release(std::unique_lock<std::mutex>& lock);
  mutable std::mutex mu_;
  int64_t step_ = 0;                          // guarded by mu_
  std::multimap<int64_t, Callback> waiters_;  // guarded by mu_
};

}  // namespace flowps::ps

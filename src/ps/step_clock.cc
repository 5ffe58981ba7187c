#include "ps/step_clock.h"

#include <vector>

namespace flowps::ps {

int64_t StepClock::now() const {
  std::lock_guard<std::mutex> lock(mu_);
  return step_;
}

void StepClock::WaitFor(int64_t step, Callback done) {
  std::unique_lock<std::mutex> lock(mu_);
  if (step_ >= step) {
    const int64_t now = step_;
    lock.unlock();
    done(now);
    return;
  }
  waiters_.emplace(step, std::move(done));
}

void StepClock::Advance(int64_t step) {
  std::unique_lock<std::mutex> lock(mu_);
  if (step > step_) step_ = step;
  Release(lock);
}

void StepClock::Fail(int64_t step, const Status& why) {
  std::vector<Callback> failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto end = waiters_.upper_bound(step);
    for (auto it = waiters_.begin(); it != end; ++it) failed.push_back(std::move(it->second));
    waiters_.erase(waiters_.begin(), end);
  }
  for (Callback& cb : failed) cb(why);
}

void StepClock::Reset(int64_t step) {
  std::vector<Callback> rolled_back;
  {
    std::unique_lock<std::mutex> lock(mu_);
    step_ = step;
    auto later = waiters_.upper_bound(step);
    for (auto it = later; it != waiters_.end(); ++it) rolled_back.push_back(std::move(it->second));
    waiters_.erase(later, waiters_.end());
    Release(lock);
  }
  for (Callback& cb : rolled_back)
    cb(Aborted("the shard was rolled back to a checkpoint at step " + std::to_string(step) + "; pull and push again"));
}

void StepClock::Release(std::unique_lock<std::mutex>& lock) {
  std::vector<Callback> ready;
  auto end = waiters_.upper_bound(step_);
  for (auto it = waiters_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
  waiters_.erase(waiters_.begin(), end);
  const int64_t now = step_;
  lock.unlock();
  for (Callback& cb : ready) cb(now);
}

}  // namespace flowps::ps

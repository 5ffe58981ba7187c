#include "ps/async_applier.h"

#include <algorithm>
#include <limits>
#include <optional>

#include <spdlog/spdlog.h>

namespace flowps::ps {

Status AsyncConfig::Validate() const {
  if (total_workers < 1) return InvalidArgument("total_workers must be >= 1");
  if (max_staleness < -1) return InvalidArgument("max_staleness must be >= 0 (or absent)");
  return Status::OK();
}

AsyncApplier::AsyncApplier(AsyncConfig config, VariableStore* store, std::shared_ptr<spdlog::logger> log)
    : LockedUpdateRule(config.total_workers, store, std::move(log)), config_(config),
      worker_clock_(static_cast<size_t>(config.total_workers), 0) {}

bool AsyncApplier::MustWait(int32_t worker, int64_t step) const {
  if (config_.policy != StalenessPolicy::kWait || config_.max_staleness < 0) return false;
  // A worker's clock: the global step after its last applied push, or the
  // step of its held push if that is newer (it has reached that step; waiting
  // for its apply instead would deadlock workers held for each other).
  std::vector<int64_t> clock = worker_clock_;
  for (const auto& [key, held] : held_)
    clock[static_cast<size_t>(key.first)] = std::max(clock[static_cast<size_t>(key.first)], key.second.first);
  int64_t slowest = std::numeric_limits<int64_t>::max();
  for (size_t w = 0; w < clock.size(); ++w)
    if (static_cast<int32_t>(w) != worker) slowest = std::min(slowest, clock[w]);
  return slowest != std::numeric_limits<int64_t>::max() && step - slowest > config_.max_staleness;
}

void AsyncApplier::Push(PushRequest request, PushDone done) {
  const int32_t w = request.worker;
  const int64_t t = request.step;
  const PushId id{t, request.seq};
  // The scan of the values runs outside mu_, so pushes validate in parallel.
  const Status valid = store_->Validate(request.grads);
  std::optional<StatusOr<PushResult>> answer;  // answered without applying; `done` runs outside mu_
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto refuse = [&](Status st) {
      ++stats_.refused;
      return st;
    };
    StatusOr<PushResult> early = [&]() -> StatusOr<PushResult> {
      if (Status st = CheckWorker(w); !st.ok()) return refuse(st);
      auto last = last_push_.find(w);
      if (last != last_push_.end() && id <= last->second) {
        ++stats_.duplicates;
        return PushResult{PushOutcome::kDuplicate, step_};
      }
      if (t > step_)
        return refuse(FailedPrecondition("push from worker " + std::to_string(w) + " is tagged step " +
                                         std::to_string(t) + ", ahead of this shard's global step " +
                                         std::to_string(step_)));
      if (!valid.ok()) return refuse(valid);
      if (config_.policy == StalenessPolicy::kRefuse && config_.max_staleness >= 0 &&
          step_ - t > config_.max_staleness) {
        ++stats_.stale_dropped;
        log_->info("refused the gradient of worker {} from step {}: global step {} is {} steps ahead "
                   "(max_staleness {})", w, t, step_, step_ - t, config_.max_staleness);
        return PushResult{PushOutcome::kStale, step_};
      }
      return PushResult{PushOutcome::kAccepted, step_};
    }();
    if (!early.ok() || early->outcome != PushOutcome::kAccepted) answer = std::move(early);
    auto held = answer ? held_.end() : held_.find({w, id});
    if (held != held_.end()) {  // a retry of a held push: answer both when it goes
      held->second.done.push_back(std::move(done));
      return;
    }
    if (!answer && MustWait(w, t)) {
      log_->debug("holding the push of worker {} from step {} (seq {}): it is more than {} steps ahead of the "
                  "slowest", w, t, request.seq, config_.max_staleness);
      // The held push outlives this call: copy its tensors, which may point into an RPC message.
      for (Gradient& g : request.grads) {
        g.values = g.values.Clone();
        if (g.indices.valid()) g.indices = g.indices.Clone();
      }
      Held h{std::move(request), {}};
      h.done.push_back(std::move(done));
      held_.emplace(HeldKey{w, id}, std::move(h));
      stats_.waiting = static_cast<int64_t>(held_.size());
      return;
    }
    if (!answer) last_push_[w] = id;
  }
  if (answer) {
    done(std::move(*answer));
    return;
  }
  done(ApplyNow(request));
  ReleaseHeld();
}

StatusOr<PushResult> AsyncApplier::ApplyNow(const PushRequest& request) {
  std::shared_lock<std::shared_mutex> apply_lock(apply_mu_);
  int64_t step;
  {
    std::lock_guard<std::mutex> lock(mu_);
    step = ++step_;
  }
  Status st = store_->ApplyValidated(request.grads, step);
  if (!st.ok()) {
    log_->error("applying the push of worker {} from step {} failed: {}", request.worker, request.step,
                st.ToString());
    return st;
  }
  PushResult result{PushOutcome::kApplied, 0};
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.accepted;
    ++stats_.applied_updates;
    worker_clock_[static_cast<size_t>(request.worker)] = step_;
    result.global_step = step_;
  }
  clock_.Advance(step);
  return result;
}

void AsyncApplier::ReleaseHeld() {
  for (;;) {
    Held next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = std::find_if(held_.begin(), held_.end(),
                             [&](const auto& h) { return !MustWait(h.first.first, h.first.second.first); });
      if (it == held_.end()) return;
      next = std::move(it->second);
      held_.erase(it);
      stats_.waiting = static_cast<int64_t>(held_.size());
      PushId& last = last_push_[next.request.worker];
      last = std::max(last, PushId{next.request.step, next.request.seq});
    }
    StatusOr<PushResult> result = ApplyNow(next.request);
    for (PushDone& done : next.done) done(result);
  }
}

std::vector<UpdateRule::PushDone> AsyncApplier::ForgetPending(int64_t step) {
  last_push_.clear();
  std::fill(worker_clock_.begin(), worker_clock_.end(), step);
  std::vector<PushDone> waiting;
  for (auto& [key, h] : held_)
    for (PushDone& done : h.done) waiting.push_back(std::move(done));
  held_.clear();
  stats_.waiting = 0;
  return waiting;
}

}  // namespace flowps::ps

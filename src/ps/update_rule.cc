#include "ps/update_rule.h"

namespace flowps::ps {

const char* PushOutcomeName(PushOutcome outcome) {
  switch (outcome) {
    case PushOutcome::kAccepted: return "accepted";
    case PushOutcome::kApplied: return "applied";
    case PushOutcome::kDuplicate: return "duplicate";
    case PushOutcome::kStale: return "stale";
  }
  return "unknown";
}

LockedUpdateRule::LockedUpdateRule(int total_workers, VariableStore* store, std::shared_ptr<spdlog::logger> log)
    : total_workers_(total_workers), store_(store), log_(std::move(log)) {}

Status LockedUpdateRule::CheckWorker(int32_t worker) const { return CheckWorkerId(worker, total_workers_); }

void LockedUpdateRule::WaitForStep(int64_t step, StepClock::Callback done) { clock_.WaitFor(step, std::move(done)); }

PushStats LockedUpdateRule::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

ShardSnapshot LockedUpdateRule::Snapshot() const {
  std::unique_lock<std::shared_mutex> apply_lock(apply_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  return ShardSnapshot{step_, store_->Snapshot()};
}

Status LockedUpdateRule::Restore(ShardSnapshot snapshot) {
  std::vector<PushDone> dropped;
  {
    std::unique_lock<std::shared_mutex> apply_lock(apply_mu_);
    std::lock_guard<std::mutex> lock(mu_);
    FLOWPS_RETURN_IF_ERROR(store_->Restore(std::move(snapshot.variables)));
    step_ = snapshot.global_step;
    dropped = ForgetPending(step_);
  }
  clock_.Reset(snapshot.global_step);
  for (PushDone& done : dropped) done(Aborted("the shard was restored from a checkpoint; pull and push again"));
  return Status::OK();
}

}  // namespace flowps::ps

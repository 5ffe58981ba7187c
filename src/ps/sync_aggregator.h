// SyncAggregator: synchronous training with backup workers (Chen et al. 2016,
// "Revisiting Distributed Synchronous SGD"; TensorFlow's SyncReplicasOptimizer).
//
// With replicas_to_aggregate = N and total_workers = N + b, for each global
// step s the shard takes the first N pushes tagged s, averages them (each
// variable's gradients summed and divided by N; a variable absent from a push
// counts as zero, sparse rows are concatenated and scaled by 1/N), applies the
// average once with the optimizer at step s+1, advances its global step to
// s+1 and releases every worker waiting for s+1. Any push tagged with an older
// step (the b backups, a worker that fell behind) is dropped, counted in
// stats().stale_dropped and logged; that worker then waits for the current
// step and joins it. A second push of the same (worker, step) is a duplicate
// and changes nothing.
//
// Several shards: each shard runs its own aggregator and global step; they do
// not talk to each other. What the shards give each other is:
//   - every shard applies, for each step s, the average of exactly N
//     gradients tagged s, computed from that shard's parameters of step s;
//   - the N workers counted may differ between shards (a backup worker can
//     be among the first N on one shard and dropped on another);
//   - since a worker pushes step s+1 only after every shard released s+1
//     (the ps client waits on all shards), no shard runs more than one step
//     ahead of any other: the shards' global steps differ by at most 1.
//
// A step whose apply fails (the average of finite gradients overflowed to
// Inf, or the optimizer refused it) is dropped, never half-applied: the push
// that completed it fails with the reason, every worker waiting for the next
// step is answered that error, and the step is open again for pushes from
// everyone (the global step does not move), so the shard never wedges.
//
// Each pushed gradient's values are scanned for NaN/Inf once, when it is
// counted; the average is not scanned again, except for overflow, which is
// checked in the same pass that scales the sum.
//
// Thread safety: every method may be called from any thread. mu_ guards the
// step's accumulation and the counters and is never held while applying, so
// stats() never waits for an optimizer; apply_mu_ is held shared by the apply
// of a step and exclusively by Snapshot/Restore, so a snapshot never sees half
// a step.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "ps/step_clock.h"
#include "ps/update_rule.h"

namespace spdlog {
class logger;
}

namespace flowps::ps {

struct SyncConfig {
  int replicas_to_aggregate = 1;  // N
  int total_workers = 1;          // N + b; worker ids are 0 .. total_workers-1

  Status Validate() const;
  bool operator==(const SyncConfig&) const = default;
};

class SyncAggregator final : public LockedUpdateRule {
 public:
  // `store` is not owned and must outlive the aggregator.
  SyncAggregator(SyncConfig config, VariableStore* store, std::shared_ptr<spdlog::logger> log);

  void Push(PushRequest request, PushDone done) override;

 private:
  // The sums of a step that just completed, taken out of the accumulator.
  struct CompletedStep {
    int64_t step = 0;
    std::map<std::string, Tensor> dense_sum;
    std::map<std::string, std::vector<std::pair<Tensor, Tensor>>> sparse;
    std::vector<int32_t> workers;  // counted in it
  };
  // `valid`: the store's verdict on the push's gradients. REQUIRES: mu_ held.
  // Sets *completed when this push completed its step.
  StatusOr<PushResult> Offer(PushRequest& request, const Status& valid, std::optional<CompletedStep>* completed);
  // Adds one push to the step's sums.
  void Accumulate(std::vector<Gradient>& grads);  // REQUIRES: mu_ held
  // Applies a completed step (mu_ not held); drops it if the apply fails.
  StatusOr<PushResult> ApplyStep(CompletedStep step);
  // Drops the partial sums of the open step (no push waits: none to answer).
  std::vector<PushDone> ForgetPending(int64_t step) override;

  const SyncConfig config_;
  // Guarded by mu_ (LockedUpdateRule):
  int64_t open_step_ = 0;  // guarded by mu_: the step pushes count towards (step_, or step_ + 1 while applying)
  int count_ = 0;                             // pushes counted for open_step_
  std::vector<int32_t> counted_;              // their workers
  std::map<std::string, Tensor> dense_sum_;   // per variable, for open_step_
  std::map<std::string, std::vector<std::pair<Tensor, Tensor>>> sparse_;  // (indices, rows) for open_step_
  std::map<int32_t, int64_t> last_counted_;   // worker -> newest step counted
};

}  // namespace flowps::ps

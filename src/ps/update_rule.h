// UpdateRule: how a shard turns pushed gradients into variable updates.
// SyncAggregator (N of N+b per global step) and AsyncApplier (apply on
// arrival, optional bounded staleness) implement it.
//
// Every push carries (worker, step, seq): `step` is the shard's global step at
// which the worker pulled the parameters its gradient was computed from, and
// `seq` counts that worker's pushes computed from the same step (0 for the
// first; 1 for a prefetched one computed before the first's answer arrived).
// The triple identifies the push, so a push retried after a reconnect (same
// step and seq) is recognised and never applied twice (outcome kDuplicate,
// reported as success to the worker). Staleness uses the step only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "ps/step_clock.h"
#include "ps/variable_store.h"

namespace spdlog {
class logger;
}

namespace flowps::ps {

struct PushRequest {
  int32_t worker = 0;
  int64_t step = 0;
  std::vector<Gradient> grads;
  uint32_t seq = 0;  // the worker's pushes from `step` before this one (async; sync ignores it)
};

enum class PushOutcome {
  kAccepted,   // sync: counted towards its step; applied when the step completes
  kApplied,    // the update (sync: this push completed the step) is in the variables
  kDuplicate,  // this (worker, step[, seq]) was counted or applied before; nothing changed
  kStale,      // dropped (an older step, or too stale); counted in stats
};
const char* PushOutcomeName(PushOutcome outcome);  // "accepted", "applied", "duplicate", "stale"

struct PushResult {
  PushOutcome outcome = PushOutcome::kAccepted;
  int64_t global_step = 0;  // the shard's step after this push
};

struct PushStats {
  int64_t accepted = 0;    // pushes counted (sync) or applied (async)
  int64_t applied_updates = 0;  // optimizer applications (sync: one per step)
  int64_t stale_dropped = 0;
  int64_t duplicates = 0;
  int64_t refused = 0;     // bad input (unknown variable, shape, dtype, non-finite)
  int64_t waiting = 0;     // async wait policy: pushes held right now
  int64_t failed_steps = 0;  // sync: steps dropped because their apply failed
};

// A consistent copy of a shard: its global step and every part, taken with no
// update in progress.
struct ShardSnapshot {
  int64_t global_step = 0;
  std::vector<VariableSnapshot> variables;
};

// OK if 0 <= worker < total_workers; else InvalidArgument naming both.
inline Status CheckWorkerId(int32_t worker, int total_workers) {
  if (worker >= 0 && worker < total_workers) return Status::OK();
  return InvalidArgument("push from worker " + std::to_string(worker) + ": worker ids are 0.." +
                         std::to_string(total_workers - 1));
}

class UpdateRule {
 public:
  using PushDone = std::function<void(StatusOr<PushResult>)>;
  virtual ~UpdateRule() = default;

  // Offers a push. `done` runs exactly once: usually before Push returns, or
  // later from another thread when a push must wait (bounded staleness, wait
  // policy). Bad input gives an error Status and changes nothing.
  virtual void Push(PushRequest request, PushDone done) = 0;
  // OK if `worker` is one of the job's worker ids.
  virtual Status CheckWorker(int32_t worker) const = 0;
  // Runs `done(now)` once the global step is >= step, or `done(error)` if
  // that step will not come (sync: its apply failed and it was dropped).
  virtual void WaitForStep(int64_t step, StepClock::Callback done) = 0;
  virtual int64_t global_step() const = 0;
  virtual PushStats stats() const = 0;
  virtual ShardSnapshot Snapshot() const = 0;
  // Replaces the variables and the global step (forgets pending pushes).
  virtual Status Restore(ShardSnapshot snapshot) = 0;
};

// What every update rule of a shard shares, defined once: the variable store,
// the shard's global step and push counters, the step clock, the worker ids,
// and the two locks that keep a snapshot consistent. A rule derives from it,
// implements Push, and says in ForgetPending what a restore drops.
//
// Locks (order: apply_mu_ before mu_):
//   apply_mu_  held shared by each apply into the store (several run in
//              parallel), exclusively by Snapshot and Restore, so neither ever
//              sees half an update.
//   mu_        guards step_, stats_ and the derived rule's bookkeeping. Never
//              held across an apply (a kernel) or a `done` callback.
// Thread-safe: every public method may be called from any thread.
class LockedUpdateRule : public UpdateRule {
 public:
  Status CheckWorker(int32_t worker) const final;
  void WaitForStep(int64_t step, StepClock::Callback done) final;
  int64_t global_step() const final { return clock_.now(); }
  PushStats stats() const final;
  ShardSnapshot Snapshot() const final;
  // Replaces the store's variables and the global step under both locks,
  // calls ForgetPending, resets the clock, then (no lock held) answers each
  // push ForgetPending returned with Aborted.
  Status Restore(ShardSnapshot snapshot) final;

 protected:
  // `store` is not owned and must outlive the rule.
  LockedUpdateRule(int total_workers, VariableStore* store, std::shared_ptr<spdlog::logger> log);

  // Forgets every push counted or held for a step after `step` (the restored
  // global step, already in step_) and returns the `done` callbacks of the
  // pushes that were waiting for an answer. REQUIRES: apply_mu_ held
  // exclusively and mu_ held.
  virtual std::vector<PushDone> ForgetPending(int64_t step) = 0;

  const int total_workers_;
  VariableStore* const store_;
  const std::shared_ptr<spdlog::logger> log_;
  StepClock clock_;  // follows step_; thread-safe on its own
  mutable std::shared_mutex apply_mu_;
  mutable std::mutex mu_;
  int64_t step_ = 0;  // guarded by mu_: the global step (applied)
  PushStats stats_;   // guarded by mu_
};

}  // namespace flowps::ps

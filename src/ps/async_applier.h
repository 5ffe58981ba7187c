// AsyncApplier: asynchronous training. Each push is applied as it arrives,
// under the locks of the variables it touches only (VariableStore's
// per-variable mutexes), so pushes to different variables run in parallel.
// Every applied push advances the shard's global step by one; the optimizer
// sees that step (Adam's bias correction).
//
// Optional bounded staleness, max_staleness = s >= 0 (Li et al., OSDI 2014):
//   policy refuse: a push tagged t while the global step is g is refused as
//     stale when g - t > s (dropped, counted, nothing changed); the worker
//     pulls again and retries with fresh parameters.
//   policy wait: bounded delay. Each worker's clock is the global step right
//     after its last applied push (0 before), or the step of its held push if
//     that is newer (so workers held for each other never deadlock). A push (w, t) is held while
//     t - min(clock of every other worker) > s, i.e. while its worker is more
//     than s steps ahead of the slowest one, and is applied (its `done` runs)
//     once the slower workers catch up. Held pushes are in stats().waiting. A
//     worker that never pushes holds the fast ones until their deadlines.
//
// Exactly once: a push (w, t, q) with (t, q) <= the newest (step, seq) w had
// applied, compared lexicographically, is a duplicate; a retry of a push that
// is being held (same w, t, q) joins the held one. So two pushes of one worker
// from the same step (prefetch: seq 0, then 1) are both applied, while a
// resend of either is not. Staleness and holding use the step only.
//
// Thread safety: all methods may be called from any thread. mu_ guards the
// bookkeeping (never held while applying); apply_mu_ is held shared by every
// apply and exclusively by Snapshot/Restore, so a snapshot sees whole pushes.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "core/train_config.h"  // StalenessPolicy
#include "ps/step_clock.h"
#include "ps/update_rule.h"

namespace spdlog {
class logger;
}

namespace flowps::ps {

struct AsyncConfig {
  int64_t max_staleness = -1;  // -1: unbounded
  StalenessPolicy policy = StalenessPolicy::kRefuse;
  int total_workers = 1;       // worker ids are 0 .. total_workers-1

  Status Validate() const;
  bool operator==(const AsyncConfig&) const = default;
};

class AsyncApplier final : public LockedUpdateRule {
 public:
  // `store` is not owned and must outlive the applier.
  AsyncApplier(AsyncConfig config, VariableStore* store, std::shared_ptr<spdlog::logger> log);

  void Push(PushRequest request, PushDone done) override;

 private:
  struct Held {
    PushRequest request;
    std::vector<PushDone> done;  // the push and its retries
  };
  // Applies one admitted push (validated already) and returns its result.
  StatusOr<PushResult> ApplyNow(const PushRequest& request);
  bool MustWait(int32_t worker, int64_t step) const;  // REQUIRES: mu_ held
  // Applies the held pushes that may now go, until none may.
  void ReleaseHeld();
  // Drops the held pushes and every worker's history.
  std::vector<PushDone> ForgetPending(int64_t step) override;

  const AsyncConfig config_;
  // Guarded by mu_ (LockedUpdateRule):
  // A push's identity within its worker: (step, seq), ordered lexicographically.
  using PushId = std::pair<int64_t, uint32_t>;
  using HeldKey = std::pair<int32_t, PushId>;  // (worker, (step, seq))
  std::map<int32_t, PushId> last_push_;   // worker -> newest (step, seq) applied or held
  std::vector<int64_t> worker_clock_;     // worker -> global step after its last apply
  std::map<HeldKey, Held> held_;          // (worker, (step, seq)) -> held push
};

}  // namespace flowps::ps

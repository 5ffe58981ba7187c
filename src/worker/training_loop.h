// TrainingLoop: one worker's training steps, over four small interfaces --
// where the parameters come from and the gradients go (ParameterSource), what
// computes the gradients of a batch (GradientSource: the towers), where the
// batches come from (BatchSource) and a clock -- so that the step can be read
// in one function and tested against fakes, with no sockets.
//
// A step, as data:
//
//   parameters (shard steps s) --Load--> model --Compute(batch)--> gradients
//   gradients (computed from s) --PushPull--> next parameters (and the outcome)
//
// A model with embedding tables also reads rows of its batch's keys
// (TableReads). The loop reads the batch it computes after a push before
// sending that push (the pipeline has it ready: it batches ahead on a thread
// of its own), so the push carries that batch's keys and its answer the rows
// (sync: after the step's apply; async: current). A batch whose rows did not
// come that way -- the first of a run (two with prefetch), or one read after
// the push because it was not known then -- is looked up by the
// GradientSource on its own before its compute. The last push before the
// end step carries no keys.
//
// Sync: PushPull answers once every shard has released the next step, with
// that step's values. Async: with the values current after the apply.
// Prefetch (async only, `mode.prefetch`): the gradients of step s+1 are
// computed from the parameters of step s while the push of step s is in
// flight; they are pushed with the steps they were computed from, so a push
// is at most one step staler than without prefetch.
//
// The loop stops when the global step (the least of the shards' steps) reaches
// `end_step`, when StopRequested() says so, or at the first error. The hooks
// (the chief's duties, progress reports) run between steps, while nothing
// computes.
//
// Threads: Run() runs on a thread with a KJ event loop (the job thread) and
// waits there, so the loop keeps sending and receiving while the gradients
// compute elsewhere (GradientSource's promise). Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <kj/async.h>

#include "core/status.h"
#include "core/tensor.h"
#include "core/trace.h"
#include "core/variable_gradient.h"
#include "data/example.h"
#include "net/ps_client.h"
#include "net/table_keys.h"

namespace flowps {

// The embedding table rows a batch reads (worker/table_source.h plans them):
// per table, the batch's keys split by shard, and once read, their rows.
// Not copyable: `requests` point into `keys`.
struct TableReads {
  TableReads(const std::vector<std::string>& tables, std::vector<TableKeys> table_keys) : keys(std::move(table_keys)) {
    for (size_t i = 0; i < tables.size(); ++i) requests.push_back({tables[i], &keys[i]});
  }
  TableReads(const TableReads&) = delete;
  TableReads& operator=(const TableReads&) = delete;

  std::vector<TableKeys> keys;               // per table
  std::vector<TableLookupRequest> requests;  // per table: its name and keys
  std::optional<TableLookupResult> rows;     // set once read (by a push's answer or a lookup)
};

// The parameters, from the ps shards.
class ParameterSource {
 public:
  virtual ~ParameterSource() = default;
  // Every variable's current value and each shard's step (the first pull of
  // a job, or after a reconnect).
  virtual kj::Promise<PulledVariables> Pull() = 0;
  // Pushes `grads`, computed from parameters at `from_steps` (per shard), and
  // resolves to each shard's outcome and the parameters to compute from next
  // (see the file comment; PushPullResult is net/ps_client.h's), with the
  // rows of `next_tables` (the next batch's keys; empty: none) in
  // PushPullResult::tables. The keys must outlive the promise.
  // An active `trace` (a traced step) records the calls under trace.parent.
  virtual kj::Promise<PushPullResult> PushPull(std::vector<int64_t> from_steps, std::vector<VariableGradient> grads,
                                               std::vector<TableLookupRequest> next_tables,
                                               const TraceContext& trace) = 0;
};

// The gradients of a batch: the towers of the model.
class GradientSource {
 public:
  virtual ~GradientSource() = default;
  struct Gradients {
    double loss = 0;
    std::vector<VariableGradient> grads;
  };
  // Parameter ownership: the source holds the parameters last loaded until
  // the next Load or Release; it may take `values` over without a copy. They
  // may alias an RPC response of the calling thread's event loop, so the
  // source releases them -- and the parameters they replace -- only on the
  // calling thread: in Load, Release or its destructor. Neither is called
  // while a Compute runs.
  virtual kj::Promise<Status> Load(std::map<std::string, Tensor> values) = 0;
  // Releases the parameters last loaded, when nothing reads them before the
  // next Load: the loop calls it once it has computed the gradients it will
  // push, so that the parameters, the gradients in flight and the answer are
  // not all held at once. Compute (and an evaluation) needs a Load after it.
  virtual void Release() = 0;
  // The table rows `batch` reads, planned when the loop reads the batch ahead
  // of its compute, so that the push before it can carry the keys. Null: the
  // model reads no tables (the default). An error ends the loop when it
  // reaches that batch.
  virtual StatusOr<std::shared_ptr<TableReads>> PlanReads(const data::ColumnBatch& batch) {
    (void)batch;
    return std::shared_ptr<TableReads>();
  }
  // The gradients of `batch` at the parameters last loaded; `reads` is what
  // PlanReads gave for it (null when it was not asked), its rows filled when
  // a push brought them. The batch must stay valid until the promise
  // resolves. At most one runs at a time. An active `trace` (a traced step)
  // records the kernels under trace.parent.
  virtual kj::Promise<StatusOr<Gradients>> Compute(const data::ColumnBatch& batch, std::shared_ptr<TableReads> reads,
                                                   const TraceContext& trace) = 0;
};

// The batches of this worker's shard.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // The next batch of named columns (blocks until one is ready).
  virtual StatusOr<data::ColumnBatch> Next() = 0;
};

// Where a step's time went, in seconds. With prefetch, compute overlaps the
// previous step's push and wait.
struct StepTimes {
  double pull = 0;     // loading the parameters the step computed from into the model
  double compute = 0;  // reading the batch and computing its gradients
  double push = 0;     // the pushPull round trip, less `wait`
  double wait = 0;     // the shards holding the answer for the step's release (sync; the longest)
};

// What happened in one step, for the hooks.
struct StepRecord {
  int64_t global_step = 0;  // the least shard step of the parameters the step pushed to
  int64_t examples = 0;
  double loss = 0;
  bool stale = false;  // some shard dropped the push as stale
  // Steps the shards had moved past the parameters the push was computed
  // from, as their answers saw it (the most of the shards that took the push;
  // 0 in sync mode).
  int64_t staleness = 0;
  StepTimes times;
};

struct TrainingLoopResult {
  int64_t global_step = 0;  // where the loop ended
  int64_t local_steps = 0, stale = 0, examples = 0;  // this worker's pushes, those dropped as stale, examples
};

// Called between steps on the loop's thread; an error ends the loop.
struct TrainingHooks {
  // The model holds the parameters of `global_step`, which is below the end.
  std::function<Status(int64_t global_step)> before_step;
  // A push was answered; `totals` counts it.
  std::function<Status(const StepRecord&, const TrainingLoopResult& totals)> after_step;
};

struct TrainingLoopOptions {
  int64_t end_step = 0;   // the loop ends when the global step reaches it
  bool prefetch = false;  // async only: compute step s+1 while step s's push is in flight
  // Checked between steps; true ends the loop (a clean stop).
  std::function<bool()> stop_requested;
  // Resolves when the job is stopped: a wait in progress then ends the loop
  // with a kj::Exception. Null: never.
  kj::ForkedPromise<void>* cancelled = nullptr;
  // Traces `traced_steps` of this worker's steps from its step number
  // `first_traced_step` (0: its first step of the job; 1 leaves a warm-up
  // step) into `trace`. A step is one batch: per step a span "step" with
  // children "compute" (track "compute": the wait for the batch and its
  // gradients, the kernels under it), "push" (the pushPull round trip; the
  // RPCs and the shards' spans under it) and "pull" (loading the answer), and
  // a root span "input" (track "input": the input thread's work on the
  // batch, read ahead). Every span of a step carries its number: the global
  // step of the parameters it computed from (what its push carries; a push
  // the shards dropped leaves the next step the same number), and the
  // details of its step and input spans say "worker step n". With prefetch a step's compute
  // runs under the previous step's push: its step span begins with its
  // compute, so consecutive steps overlap and alternate between the tracks
  // "step #1" and "step #2" (without prefetch: "step"). Until the last traced
  // step is done (or Run returns) the recorder counts a span in flight
  // (TraceHold). Null: nothing is traced.
  TraceRecorder* trace = nullptr;
  int64_t first_traced_step = 1;
  int64_t traced_steps = 0;
};

class TrainingLoop {
 public:
  // REQUIRES: every pointer outlives the loop.
  TrainingLoop(ParameterSource* params, GradientSource* gradients, BatchSource* batches, TrainingHooks hooks,
               TrainingLoopOptions options);

  StatusOr<TrainingLoopResult> Run(kj::WaitScope& wait_scope);

 private:
  // Gradients with the shard steps of the parameters they were computed from.
  struct Computed {
    GradientSource::Gradients gradients;
    std::vector<int64_t> from_steps;
    int64_t examples = 0;
    double pull_seconds = 0, compute_seconds = 0;
    // A traced step: its root span, open from its computation to the load of its answer.
    std::unique_ptr<TraceScope> span;
    // Where the step's phases record (inactive when it is not traced).
    TraceContext trace() const { return span ? span->child() : TraceContext{}; }
  };
  // A batch read ahead of its compute, and the table rows it reads.
  struct Ahead {
    data::ColumnBatch batch;
    std::shared_ptr<TableReads> reads;
  };
  Status Step();
  Status LoadParameters(PulledVariables pulled, const TraceContext& trace);
  // The gradients of the next batch at the parameters the model holds; with
  // `release`, the model releases them once they are computed (the next read
  // of the model is the Load of the answer).
  kj::Promise<StatusOr<Computed>> ComputeNext(bool release);
  // The root span of the step whose batch is taken next, when it is traced (null otherwise).
  std::unique_ptr<TraceScope> BeginStepSpan() const;
  Status Record(Computed c, PushPullResult answer, double round_trip_seconds);
  // The batch source's next batch; once it ends (or fails) that status,
  // kept in ahead_end_, from then on.
  StatusOr<data::ColumnBatch> NextBatch();
  // The next batch to compute: the first read ahead, or one read now.
  StatusOr<Ahead> TakeBatch();
  // The table reads of the batch `n` computations ahead (1: the next), read
  // ahead if need be, for the push about to be sent to carry; null when that
  // push is the last (its step reaches the end step), when the batch has no
  // reads, or when the batch source has no more.
  std::shared_ptr<TableReads> ReadsAhead(const Computed& pushing, size_t n);
  template <typename T>
  T Wait(kj::Promise<T> p);  // a remote call: a stop ends the wait
  template <typename T>
  T WaitLocal(kj::Promise<T> p);  // local work: waited for to the end

  ParameterSource* params_;
  GradientSource* gradients_;
  BatchSource* batches_;
  TrainingHooks hooks_;
  TrainingLoopOptions options_;
  kj::WaitScope* wait_scope_ = nullptr;

  std::vector<int64_t> current_steps_;  // the shard steps of the parameters the model holds
  double load_seconds_ = 0;             // how long loading those took
  data::ColumnBatch batch_;                // the batch being computed (valid until its Compute resolves)
  std::deque<Ahead> ahead_;                // batches read ahead of their compute, in order
  Status ahead_end_;                       // the batch source's error after the last batch read (returned on reaching it)
  std::optional<Computed> ready_;       // prefetch: computed, not yet pushed
  int64_t computations_ = 0;            // batches taken: the worker's step number of the next one
  TraceHold traced_ahead_;              // until the last traced step is done (see TrainingLoopOptions::trace)
  TrainingLoopResult result_;
};

}  // namespace flowps

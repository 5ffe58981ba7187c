#include "worker/training_loop.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include <kj/debug.h>

namespace flowps {
namespace {

int64_t LeastStep(const std::vector<int64_t>& steps) {
  return steps.empty() ? 0 : *std::min_element(steps.begin(), steps.end());
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The worst staleness of the shards that took the push (see StepRecord).
int64_t Staleness(const std::vector<int64_t>& from_steps, const std::vector<ShardPushReply>& pushed) {
  int64_t worst = 0;
  for (size_t k = 0; k < pushed.size() && k < from_steps.size(); ++k) {
    if (pushed[k].outcome != PushReplyOutcome::kApplied && pushed[k].outcome != PushReplyOutcome::kAccepted) continue;
    worst = std::max(worst, pushed[k].global_step - 1 - from_steps[k]);
  }
  return worst;
}

// The detail of a traced step's spans: the worker's step number.
std::string StepName(int64_t n) { return "worker step " + std::to_string(n); }

}  // namespace

TrainingLoop::TrainingLoop(ParameterSource* params, GradientSource* gradients, BatchSource* batches,
                           TrainingHooks hooks, TrainingLoopOptions options)
    : params_(params), gradients_(gradients), batches_(batches), hooks_(std::move(hooks)), options_(std::move(options)) {
  if (options_.traced_steps > 0) traced_ahead_ = TraceHold(options_.trace);
}

template <typename T>
T TrainingLoop::Wait(kj::Promise<T> p) {
  if (options_.cancelled == nullptr) return p.wait(*wait_scope_);
  return p
      .exclusiveJoin(options_.cancelled->addBranch().then(
          []() -> T { kj::throwFatalException(KJ_EXCEPTION(FAILED, "the job was stopped")); }))
      .wait(*wait_scope_);
}

// Local work (a load, a computation) is always waited for to the end, even by
// a stopped job: it reads the loop's batch and values in place.
template <typename T>
T TrainingLoop::WaitLocal(kj::Promise<T> p) {
  return p.wait(*wait_scope_);
}

StatusOr<TrainingLoopResult> TrainingLoop::Run(kj::WaitScope& wait_scope) {
  wait_scope_ = &wait_scope;
  // Whatever ends the loop, no traced step stays in flight: a batch computed
  // and never pushed (prefetch) ends its step span here.
  KJ_DEFER({
    ready_.reset();
    traced_ahead_.Release();
  });
  FLOWPS_RETURN_IF_ERROR(LoadParameters(Wait(params_->Pull()), {}));
  while (result_.global_step < options_.end_step && !(options_.stop_requested && options_.stop_requested())) {
    if (hooks_.before_step) FLOWPS_RETURN_IF_ERROR(hooks_.before_step(result_.global_step));
    FLOWPS_RETURN_IF_ERROR(Step());
  }
  return result_;
}

// One step. Without prefetch: compute from the parameters the model holds,
// then push and get the next. With prefetch: push what was computed last while
// the next gradients compute from the parameters the model holds; each
// step's spans go under its own step span (Computed::span).
Status TrainingLoop::Step() {
  if (!options_.prefetch) {
    FLOWPS_ASSIGN_OR_RETURN(Computed computed, WaitLocal(ComputeNext(true)));
    std::shared_ptr<TableReads> next = ReadsAhead(computed, 1);
    const auto sent = std::chrono::steady_clock::now();
    TraceScope push_span(computed.trace(), "push", "step");
    PushPullResult answer =
        Wait(params_->PushPull(computed.from_steps, std::move(computed.gradients.grads),
                               next ? next->requests : std::vector<TableLookupRequest>{}, push_span.child())
                 .attach(kj::cp(next)));
    push_span.End();
    if (next && !answer.tables.rows.empty()) next->rows = std::move(answer.tables);
    const double round_trip = SecondsSince(sent);
    return Record(std::move(computed), std::move(answer), round_trip);
  }
  if (!ready_) {  // the first step: the next compute reads the same parameters
    FLOWPS_ASSIGN_OR_RETURN(ready_, WaitLocal(ComputeNext(false)));
  }
  Computed pushing = std::move(*ready_);
  ready_.reset();
  // The batch after the one computed during this push reads its rows from this push's answer.
  std::shared_ptr<TableReads> after_next = ReadsAhead(pushing, 2);
  const auto sent = std::chrono::steady_clock::now();
  double round_trip = 0;
  // The push ends when its answer arrives, whether or not the next computation is done.
  std::shared_ptr<TraceScope> push_span;  // traced steps only
  if (pushing.span) push_span = std::make_shared<TraceScope>(pushing.trace(), "push", "step");
  auto answer = params_->PushPull(pushing.from_steps, std::move(pushing.gradients.grads),
                                  after_next ? after_next->requests : std::vector<TableLookupRequest>{},
                                  push_span ? push_span->child() : TraceContext{})
                    .attach(kj::cp(after_next))
                    .then([push_span, sent, &round_trip](PushPullResult r) {
                      if (push_span) push_span->End();
                      round_trip = SecondsSince(sent);
                      return r;
                    })
                    .eagerlyEvaluate(nullptr);
  StatusOr<Computed> next = WaitLocal(ComputeNext(true));
  PushPullResult pushed = Wait(kj::mv(answer));
  if (after_next && !pushed.tables.rows.empty()) after_next->rows = std::move(pushed.tables);
  if (!next.ok()) return next.status();
  ready_ = std::move(next).value();
  return Record(std::move(pushing), std::move(pushed), round_trip);
}

std::unique_ptr<TraceScope> TrainingLoop::BeginStepSpan() const {
  const int64_t n = computations_;
  if (options_.trace == nullptr || n < options_.first_traced_step ||
      n >= options_.first_traced_step + options_.traced_steps)
    return nullptr;
  // Prefetch: step n begins under step n-1's push, so the two alternate between two tracks.
  const char* track = !options_.prefetch ? "step" : n % 2 == 0 ? "step #2" : "step #1";
  const TraceContext root = TraceContext{options_.trace, 0, 0, LeastStep(current_steps_)}.OnTrack(track);
  return std::make_unique<TraceScope>(root, "step", "step", StepName(n));
}

Status TrainingLoop::LoadParameters(PulledVariables pulled, const TraceContext& trace) {
  result_.global_step = LeastStep(pulled.shard_steps);
  const auto start = std::chrono::steady_clock::now();
  TraceScope pull_span(trace, "pull", "step");
  FLOWPS_RETURN_IF_ERROR(WaitLocal(gradients_->Load(std::move(pulled.values))));
  pull_span.End();
  load_seconds_ = SecondsSince(start);
  current_steps_ = std::move(pulled.shard_steps);  // the values now live in the model
  return Status::OK();
}

kj::Promise<StatusOr<TrainingLoop::Computed>> TrainingLoop::ComputeNext(bool release) {
  const auto start = std::chrono::steady_clock::now();
  Computed c;
  c.span = BeginStepSpan();
  ++computations_;
  c.from_steps = current_steps_;
  c.pull_seconds = load_seconds_;
  const TraceContext step = c.trace();
  std::unique_ptr<TraceScope> span;  // traced steps only: the wait for the batch too
  if (step.active()) span = std::make_unique<TraceScope>(step.OnTrack("compute"), "compute", "step");
  StatusOr<Ahead> taken = TakeBatch();
  if (!taken.ok()) return StatusOr<Computed>(taken.status());
  batch_ = std::move(taken->batch);
  // The input thread read the batch ahead, before this step began: a root span of the step.
  if (step.active() && batch_.read_end_ns > 0)
    step.WithParent(0).OnTrack("input").RecordInterval("input", "step", StepName(computations_ - 1),
                                                       batch_.read_start_ns, batch_.read_end_ns);
  c.examples = batch_.size;
  const TraceContext kernels = span ? span->child() : TraceContext{};
  return gradients_->Compute(batch_, std::move(taken->reads), kernels).then(
      [this, release, c = kj::mv(c), start, span = kj::mv(span)](
          StatusOr<GradientSource::Gradients> g) mutable -> StatusOr<Computed> {
        if (span) span->End();
        if (release) gradients_->Release();  // on this (the job) thread
        if (!g.ok()) return g.status();
        c.gradients = std::move(g).value();
        c.compute_seconds = SecondsSince(start);
        return std::move(c);
      });
}

StatusOr<data::ColumnBatch> TrainingLoop::NextBatch() {
  if (!ahead_end_.ok()) return ahead_end_;
  StatusOr<data::ColumnBatch> batch = batches_->Next();
  if (!batch.ok()) ahead_end_ = batch.status();
  return batch;
}

StatusOr<TrainingLoop::Ahead> TrainingLoop::TakeBatch() {
  if (ahead_.empty()) {
    FLOWPS_ASSIGN_OR_RETURN(data::ColumnBatch batch, NextBatch());
    return Ahead{std::move(batch), nullptr};  // not planned: the GradientSource reads its rows itself
  }
  Ahead a = std::move(ahead_.front());
  ahead_.pop_front();
  return a;
}

std::shared_ptr<TableReads> TrainingLoop::ReadsAhead(const Computed& pushing, size_t n) {
  if (LeastStep(pushing.from_steps) + 1 >= options_.end_step) return nullptr;  // the last push: no batch after it
  while (ahead_.size() < n) {
    StatusOr<data::ColumnBatch> batch = NextBatch();
    if (!batch.ok()) break;
    StatusOr<std::shared_ptr<TableReads>> reads = gradients_->PlanReads(*batch);
    if (!reads.ok()) {
      ahead_end_ = reads.status();
      break;
    }
    ahead_.push_back(Ahead{std::move(batch).value(), std::move(reads).value()});
  }
  return ahead_.size() >= n ? ahead_[n - 1].reads : nullptr;
}

Status TrainingLoop::Record(Computed c, PushPullResult answer, double round_trip_seconds) {
  StepRecord r;
  r.global_step = LeastStep(c.from_steps);
  r.examples = c.examples;
  r.loss = c.gradients.loss;
  r.stale = std::any_of(answer.pushed.begin(), answer.pushed.end(),
                        [](const ShardPushReply& p) { return p.outcome == PushReplyOutcome::kStale; });
  r.staleness = Staleness(c.from_steps, answer.pushed);
  for (const ShardPushReply& p : answer.pushed) r.times.wait = std::max(r.times.wait, p.wait_seconds);
  r.times.pull = c.pull_seconds;
  r.times.compute = c.compute_seconds;
  r.times.push = std::max(0.0, round_trip_seconds - r.times.wait);
  ++result_.local_steps;
  result_.stale += r.stale ? 1 : 0;
  result_.examples += r.examples;
  if (hooks_.after_step) FLOWPS_RETURN_IF_ERROR(hooks_.after_step(r, result_));
  FLOWPS_RETURN_IF_ERROR(LoadParameters(std::move(answer.pulled), c.trace()));
  c.span.reset();  // the step is done
  // Past the traced steps, once none is open: nothing more will be recorded.
  if (computations_ >= options_.first_traced_step + options_.traced_steps && !(ready_ && ready_->span))
    traced_ahead_.Release();
  return Status::OK();
}

}  // namespace flowps

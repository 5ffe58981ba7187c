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

}  // namespace

TrainingLoop::TrainingLoop(ParameterSource* params, GradientSource* gradients, BatchSource* batches,
                           TrainingHooks hooks, TrainingLoopOptions options)
    : params_(params), gradients_(gradients), batches_(batches), hooks_(std::move(hooks)), options_(std::move(options)) {}

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
  FLOWPS_RETURN_IF_ERROR(LoadParameters(Wait(params_->Pull())));
  while (result_.global_step < options_.end_step && !(options_.stop_requested && options_.stop_requested())) {
    if (hooks_.before_step) FLOWPS_RETURN_IF_ERROR(hooks_.before_step(result_.global_step));
    FLOWPS_RETURN_IF_ERROR(Step());
  }
  return result_;
}

// One step. Without prefetch: compute from the parameters the model holds,
// then push and get the next. With prefetch: push what was computed last while
// the next gradients compute from the parameters the model holds.
Status TrainingLoop::Step() {
  TraceScope step_span(StepTrace(), "step", "step");
  tracing_ = step_span.child();
  if (!options_.prefetch) {
    FLOWPS_ASSIGN_OR_RETURN(Computed computed, WaitLocal(ComputeNext(true)));
    const auto sent = std::chrono::steady_clock::now();
    TraceScope push_span(tracing_, "push", "step");
    PushPullResult answer =
        Wait(params_->PushPull(computed.from_steps, std::move(computed.gradients.grads), push_span.child()));
    push_span.End();
    return Record(computed, std::move(answer), SecondsSince(sent));
  }
  if (!ready_) {  // the first step: the next compute reads the same parameters
    FLOWPS_ASSIGN_OR_RETURN(ready_, WaitLocal(ComputeNext(false)));
  }
  Computed pushing = std::move(*ready_);
  ready_.reset();
  const auto sent = std::chrono::steady_clock::now();
  TraceScope push_span(tracing_, "push", "step");
  auto answer = params_->PushPull(pushing.from_steps, std::move(pushing.gradients.grads), push_span.child())
                    .eagerlyEvaluate(nullptr);
  StatusOr<Computed> next = WaitLocal(ComputeNext(true));
  PushPullResult pushed = Wait(kj::mv(answer));
  push_span.End();
  const double round_trip = SecondsSince(sent);
  if (!next.ok()) return next.status();
  ready_ = std::move(next).value();
  return Record(pushing, std::move(pushed), round_trip);
}

TraceContext TrainingLoop::StepTrace() const {
  const int64_t n = result_.local_steps;  // this worker's steps so far: the number of this one
  if (options_.trace == nullptr || n < options_.first_traced_step ||
      n >= options_.first_traced_step + options_.traced_steps)
    return {};
  return TraceContext{options_.trace, 0, 0, result_.global_step}.OnTrack("step");
}

Status TrainingLoop::LoadParameters(PulledVariables pulled) {
  result_.global_step = LeastStep(pulled.shard_steps);
  const auto start = std::chrono::steady_clock::now();
  TraceScope pull_span(tracing_, "pull", "step");
  FLOWPS_RETURN_IF_ERROR(WaitLocal(gradients_->Load(std::move(pulled.values))));
  pull_span.End();
  load_seconds_ = SecondsSince(start);
  current_steps_ = std::move(pulled.shard_steps);  // the values now live in the model
  return Status::OK();
}

kj::Promise<StatusOr<TrainingLoop::Computed>> TrainingLoop::ComputeNext(bool release) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<TraceScope> span;  // traced steps only: the batch's read too
  if (tracing_.active()) span = std::make_unique<TraceScope>(tracing_.OnTrack("compute"), "compute", "step");
  auto batch = batches_->Next();
  if (!batch.ok()) return StatusOr<Computed>(batch.status());
  batch_ = std::move(batch).value();
  Computed c;
  c.from_steps = current_steps_;
  c.examples = batch_.size;
  c.pull_seconds = load_seconds_;
  const TraceContext kernels = span ? span->child() : TraceContext{};
  return gradients_->Compute(batch_, kernels).then(
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

Status TrainingLoop::Record(const Computed& c, PushPullResult answer, double round_trip_seconds) {
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
  return LoadParameters(std::move(answer.pulled));
}

}  // namespace flowps

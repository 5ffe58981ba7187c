// TrainingLoop against fakes: a ps that holds one scalar variable "w" and
// answers a push one event-loop turn later, towers that record what they
// computed from, and numbered batches. No sockets, no threads.
#include <catch2/catch.hpp>

#include <kj/async.h>

#include <map>
#include <set>

#include "worker/training_loop.h"

using namespace flowps;

namespace {

Tensor Scalar(float v) { return Tensor::FromVector<float>(Shape{}, {v}); }

// A ps of one shard with w = -(applied gradients). Sync: every push completes
// a step (one replica). Async: each push applies unless staler than
// max_staleness; `others_per_push` pushes of other workers land before each.
struct FakePs final : ParameterSource {
  bool sync = false;
  int64_t max_staleness = -1;
  int64_t others_per_push = 0;
  int64_t step = 0;
  float w = 0;
  int in_flight = 0;
  std::vector<int64_t> staleness;  // of each push of this worker, on arrival

  PulledVariables Values() const {
    PulledVariables p;
    p.values["w"] = Scalar(w);
    p.shard_steps = {step};
    return p;
  }
  kj::Promise<PulledVariables> Pull() override { return Values(); }
  kj::Promise<PushPullResult> PushPull(std::vector<int64_t> from, std::vector<VariableGradient> grads,
                                       const TraceContext& trace) override {
    if (trace.active()) TraceScope(trace, "fake pushPull", "rpc");
    ++in_flight;
    const float g = grads.at(0).values.data<float>()[0];
    return kj::evalLater([this, from, g]() {
      --in_flight;
      PushPullResult r;
      ShardPushReply reply;
      step += others_per_push;
      const int64_t stale = step - from.at(0);
      staleness.push_back(stale);
      if (!sync && max_staleness >= 0 && stale > max_staleness) {
        reply.outcome = PushReplyOutcome::kStale;
      } else {
        reply.outcome = PushReplyOutcome::kApplied;
        w -= g;
        ++step;
      }
      reply.global_step = step;
      r.pushed.push_back(reply);
      r.pulled = Values();
      return r;
    });
  }
};

// Gradient 1 for w; the loss is the batch's number. Records the w it computed
// from and whether a push was in flight meanwhile; refuses to compute from
// released parameters.
struct FakeTowers final : GradientSource {
  explicit FakeTowers(const FakePs& ps) : ps(ps) {}
  const FakePs& ps;
  float w = 1e9;
  bool held = false;  // w is loaded and not released
  std::vector<float> computed_from;
  int computed_during_push = 0;
  int releases = 0;
  int loads_while_held = 0;  // loads that found the previous parameters still held
  bool fail = false;

  kj::Promise<Status> Load(std::map<std::string, Tensor> values) override {
    loads_while_held += held ? 1 : 0;
    w = values.at("w").data<float>()[0];
    held = true;
    return Status::OK();
  }
  void Release() override {
    held = false;
    ++releases;
  }
  kj::Promise<StatusOr<Gradients>> Compute(const data::ColumnBatch& batch, const TraceContext& trace) override {
    if (trace.active()) TraceScope(trace, "fake kernel", "node");
    if (fail) return StatusOr<Gradients>(FailedPrecondition("the loss is nan"));
    if (!held) return StatusOr<Gradients>(FailedPrecondition("computed from released parameters"));
    computed_from.push_back(w);
    computed_during_push += ps.in_flight > 0 ? 1 : 0;
    Gradients g;
    g.loss = batch.columns.at("label").data<int32_t>()[0];
    g.grads.push_back(VariableGradient{"w", Scalar(1), {}, false});
    return kj::evalLater([g = std::move(g)]() mutable { return StatusOr<Gradients>(std::move(g)); });
  }
};

struct CountingBatches final : BatchSource {
  int32_t next = 0;
  StatusOr<data::ColumnBatch> Next() override {
    data::ColumnBatch b;
    b.columns["features"] = Tensor::FromVector<float>(Shape{2, 1}, {0, 0});
    b.columns["label"] = Tensor::FromVector<int32_t>(Shape{2}, {next, next});
    b.size = 2;
    ++next;
    return b;
  }
};

struct Run {
  FakePs ps;
  FakeTowers towers{ps};
  CountingBatches batches;
  std::vector<StepRecord> records;
  std::vector<int64_t> before;
  TrainingLoopOptions options;

  StatusOr<TrainingLoopResult> Go() {
    kj::EventLoop loop;
    kj::WaitScope ws(loop);
    TrainingHooks hooks;
    hooks.before_step = [this](int64_t g) {
      before.push_back(g);
      return Status::OK();
    };
    hooks.after_step = [this](const StepRecord& r, const TrainingLoopResult&) {
      records.push_back(r);
      return Status::OK();
    };
    TrainingLoop training(&ps, &towers, &batches, hooks, options);
    return training.Run(ws);
  }
};

}  // namespace

TEST_CASE("sync: every step computes from the values of the step it pushes to, and the loop ends at the end step") {
  Run run;
  run.ps.sync = true;
  run.options.end_step = 5;
  auto result = run.Go();
  REQUIRE(result.ok());
  CHECK(result->global_step == 5);
  CHECK(result->local_steps == 5);
  CHECK(result->examples == 10);
  CHECK(result->stale == 0);
  CHECK(run.towers.computed_from == std::vector<float>{0, -1, -2, -3, -4});
  CHECK(run.towers.w == -5);  // the model holds the last values pulled
  CHECK(run.towers.held);
  CHECK(run.before == std::vector<int64_t>{0, 1, 2, 3, 4});
  REQUIRE(run.records.size() == 5);
  CHECK(run.records[3].global_step == 3);
  CHECK(run.records[3].loss == 3);
  CHECK(run.ps.staleness == std::vector<int64_t>(5, 0));
}

TEST_CASE("async: a push made too stale by other workers is dropped and counted, and the loop still ends") {
  Run run;
  run.ps.max_staleness = 1;
  run.ps.others_per_push = 2;  // two other workers' pushes land before each of ours
  run.options.end_step = 20;
  auto result = run.Go();
  REQUIRE(result.ok());
  CHECK(result->global_step == 20);
  CHECK(result->local_steps == 10);
  CHECK(result->stale == 10);  // each arrives 2 steps late
  CHECK(run.ps.w == 0);        // and none was applied
  CHECK(std::count_if(run.records.begin(), run.records.end(), [](const StepRecord& r) { return r.stale; }) ==
        result->stale);
}

TEST_CASE("a worker that joins after the end step trains no step") {
  Run run;
  run.ps.step = 7;
  run.options.end_step = 7;
  auto result = run.Go();
  REQUIRE(result.ok());
  CHECK(result->local_steps == 0);
  CHECK(result->global_step == 7);
  CHECK(run.towers.computed_from.empty());
}

TEST_CASE("a stop request ends the loop between steps") {
  Run run;
  run.options.end_step = 100;
  run.options.stop_requested = [&run]() { return run.records.size() >= 3; };
  auto result = run.Go();
  REQUIRE(result.ok());
  CHECK(result->local_steps == 3);
  CHECK(result->global_step == 3);
}

TEST_CASE("a failed gradient computation ends the loop with its error") {
  Run run;
  run.towers.fail = true;
  run.options.end_step = 10;
  auto result = run.Go();
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().message() == "the loss is nan");
  CHECK(run.ps.staleness.empty());  // nothing was pushed
}

TEST_CASE("with prefetch, step s+1 computes while the push of step s is in flight, at most one step staler") {
  Run plain;
  plain.options.end_step = 10;
  REQUIRE(plain.Go().ok());
  CHECK(plain.towers.computed_during_push == 0);
  CHECK(*std::max_element(plain.ps.staleness.begin(), plain.ps.staleness.end()) == 0);

  Run prefetch;
  prefetch.options.end_step = 10;
  prefetch.options.prefetch = true;
  auto result = prefetch.Go();
  REQUIRE(result.ok());
  CHECK(result->global_step == 10);
  CHECK(result->local_steps == 10);
  CHECK(prefetch.towers.computed_during_push >= 9);  // every computation but the first
  CHECK(*std::max_element(prefetch.ps.staleness.begin(), prefetch.ps.staleness.end()) == 1);
  CHECK(prefetch.ps.w == -10);  // every push applied
}

TEST_CASE("a stopped job ends a wait that would never resolve") {
  struct SilentPs final : ParameterSource {
    kj::Promise<PulledVariables> Pull() override { return kj::NEVER_DONE; }
    kj::Promise<PushPullResult> PushPull(std::vector<int64_t>, std::vector<VariableGradient>,
                                         const TraceContext&) override {
      return kj::NEVER_DONE;
    }
  } ps;
  FakePs unused;
  FakeTowers towers(unused);
  CountingBatches batches;
  kj::EventLoop loop;
  kj::WaitScope ws(loop);
  auto paf = kj::newPromiseAndFulfiller<void>();
  kj::ForkedPromise<void> cancelled = paf.promise.fork();
  TrainingLoopOptions options;
  options.end_step = 10;
  options.cancelled = &cancelled;
  TrainingLoop training(&ps, &towers, &batches, {}, options);
  auto stop = kj::evalLater([&]() { paf.fulfiller->fulfill(); }).eagerlyEvaluate(nullptr);
  CHECK_THROWS_WITH(training.Run(ws), Catch::Contains("the job was stopped"));
}

TEST_CASE("a traced run records the steps asked for, after the warm-up step, each with its phases under it") {
  Run run;
  run.ps.sync = true;
  run.options.end_step = 6;
  TraceRecorder recorder(SpanIdBase(1));
  run.options.trace = &recorder;
  run.options.first_traced_step = 1;
  run.options.traced_steps = 3;
  REQUIRE(run.Go().ok());
  TaskTrace t = recorder.Take();
  std::map<uint64_t, const TraceSpan*> by_id;
  std::vector<const TraceSpan*> steps;
  for (const TraceSpan& s : t.spans) {
    by_id[s.id] = &s;
    if (s.name == "step") steps.push_back(&s);
  }
  REQUIRE(steps.size() == 3);
  std::set<int64_t> step_numbers;
  for (const TraceSpan* s : steps) step_numbers.insert(s->step);
  CHECK(step_numbers == std::set<int64_t>{1, 2, 3});  // not the warm-up step 0, nor 4 and 5
  // Every other span hangs under a step: phase -> step, fake call -> phase.
  std::map<std::string, int> under_step;
  for (const TraceSpan& s : t.spans) {
    if (s.name == "step") continue;
    REQUIRE(by_id.count(s.parent) == 1);
    const TraceSpan* p = by_id[s.parent];
    if (p->name == "step") ++under_step[s.name];
    CHECK(p->start_ns <= s.start_ns);
    CHECK(s.end_ns <= p->end_ns);
  }
  CHECK(under_step == std::map<std::string, int>{{"compute", 3}, {"pull", 3}, {"push", 3}});
  for (const TraceSpan& s : t.spans) {
    if (s.name == "fake pushPull") CHECK(by_id[s.parent]->name == "push");
    if (s.name == "fake kernel") CHECK(by_id[s.parent]->name == "compute");
  }
}

TEST_CASE("a step releases the parameters it computed from before its push is answered, in every mode") {
  for (bool sync : {true, false}) {
    for (bool prefetch : {false, true}) {
      if (sync && prefetch) continue;  // prefetch is async only
      INFO("sync " << sync << ", prefetch " << prefetch);
      Run run;
      run.ps.sync = sync;
      run.options.prefetch = prefetch;
      run.options.end_step = 6;
      auto result = run.Go();
      REQUIRE(result.ok());  // no computation ran on released parameters
      CHECK(result->local_steps == 6);
      // Each step's values were released before the answer replaced them:
      // parameters, gradients in flight and answer are never held at once.
      CHECK(run.towers.loads_while_held == 0);
      CHECK(run.towers.releases == 6);
      CHECK(run.towers.held);  // the last answer is loaded: the model holds the final parameters
    }
  }
}

// TrainingLoop against fakes: a ps that holds one scalar variable "w" and
// answers a push one event-loop turn later, towers that record what they
// computed from, and numbered batches. No sockets, no threads.
#include <catch2/catch.hpp>

#include <kj/async.h>

#include <algorithm>
#include <map>
#include <set>

#include "worker/training_loop.h"

using namespace flowps;

namespace {

Tensor Scalar(float v) { return Tensor::FromVector<float>(Shape{}, {v}); }

// A ps of one shard with w = -(applied gradients). Sync: every push completes
// a step (one replica). Async: each push applies unless staler than
// max_staleness; `others_per_push` pushes of other workers land before each.
// Table keys sent with a push are answered with rows [n, 1] holding the key.
struct FakePs final : ParameterSource {
  bool sync = false;
  int64_t max_staleness = -1;
  int64_t others_per_push = 0;
  int64_t step = 0;
  float w = 0;
  int in_flight = 0;
  std::vector<int64_t> staleness;  // of each push of this worker, on arrival
  std::vector<int64_t> keys_sent;  // per push: the first key it carried (-1: none)

  PulledVariables Values() const {
    PulledVariables p;
    p.values["w"] = Scalar(w);
    p.shard_steps = {step};
    return p;
  }
  kj::Promise<PulledVariables> Pull() override { return Values(); }
  kj::Promise<PushPullResult> PushPull(std::vector<int64_t> from, std::vector<VariableGradient> grads,
                                       std::vector<TableLookupRequest> next_tables, const TraceContext& trace) override {
    if (trace.active()) TraceScope(trace, "fake pushPull", "rpc");
    ++in_flight;
    const float g = grads.at(0).values.data<float>()[0];
    keys_sent.push_back(-1);
    PushPullResult r;
    if (!next_tables.empty()) {  // one table, one shard
      const Tensor& keys = next_tables.at(0).keys->shard_keys(0);
      keys_sent.back() = keys.data<int64_t>()[0];
      Tensor rows(DType::kFloat32, Shape{keys.num_elements(), 1});
      for (int64_t i = 0; i < keys.num_elements(); ++i) rows.data<float>()[i] = static_cast<float>(keys.data<int64_t>()[i]);
      r.tables.rows = {{rows}};
      r.tables.shard_steps = {step};
    }
    return kj::evalLater([this, from, g, r = std::move(r)]() mutable {
      --in_flight;
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
  // With tables: each batch reads the row of key = its number; counts how its rows came.
  bool tables = false;
  int rows_from_push = 0, rows_looked_up = 0, wrong_rows = 0;

  StatusOr<std::shared_ptr<TableReads>> PlanReads(const data::ColumnBatch& batch) override {
    if (!tables) return std::shared_ptr<TableReads>();
    const int64_t key = batch.columns.at("label").data<int32_t>()[0];
    std::vector<TableKeys> keys;
    keys.emplace_back(&key, 1, 1);
    return std::make_shared<TableReads>(std::vector<std::string>{"t"}, std::move(keys));
  }

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
  kj::Promise<StatusOr<Gradients>> Compute(const data::ColumnBatch& batch, std::shared_ptr<TableReads> reads,
                                           const TraceContext& trace) override {
    if (trace.active()) TraceScope(trace, "fake kernel", "node");
    if (fail) return StatusOr<Gradients>(FailedPrecondition("the loss is nan"));
    if (!held) return StatusOr<Gradients>(FailedPrecondition("computed from released parameters"));
    computed_from.push_back(w);
    computed_during_push += ps.in_flight > 0 ? 1 : 0;
    if (tables) {
      if (reads == nullptr || !reads->rows) {
        ++rows_looked_up;  // (a TableSource would look them up on its own here)
      } else {
        ++rows_from_push;
        const float row = reads->rows->rows.at(0).at(0).data<float>()[0];
        wrong_rows += row == batch.columns.at("label").data<int32_t>()[0] ? 0 : 1;
      }
    }
    Gradients g;
    g.loss = batch.columns.at("label").data<int32_t>()[0];
    g.grads.push_back(VariableGradient{"w", Scalar(1), {}, false});
    return kj::evalLater([g = std::move(g)]() mutable { return StatusOr<Gradients>(std::move(g)); });
  }
};

// Each batch as if the input thread had read it ahead, in the 100 us before it is taken.
struct CountingBatches final : BatchSource {
  int32_t next = 0;
  StatusOr<data::ColumnBatch> Next() override {
    data::ColumnBatch b;
    b.read_end_ns = TraceRecorder::NowNs() - 1000;
    b.read_start_ns = b.read_end_ns - 100000;
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

  // Traces `n` of the worker's steps from its step `first` into `recorder`.
  void TraceSteps(TraceRecorder* recorder, int64_t first, int64_t n) {
    options.trace = recorder;
    options.first_traced_step = first;
    options.traced_steps = n;
  }

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

TEST_CASE("with tables, a push carries the keys of the batch computed after its answer, so only a run's first batch "
          "(two with prefetch) reads its rows on its own, and the last push carries none") {
  Run sync;
  sync.ps.sync = true;
  sync.towers.tables = true;
  sync.options.end_step = 6;
  REQUIRE(sync.Go().ok());
  CHECK(sync.towers.rows_looked_up == 1);
  CHECK(sync.towers.rows_from_push == 5);
  CHECK(sync.towers.wrong_rows == 0);  // each batch got the rows of its own keys
  CHECK(sync.ps.keys_sent == std::vector<int64_t>{1, 2, 3, 4, 5, -1});
  CHECK(sync.towers.computed_from == std::vector<float>{0, -1, -2, -3, -4, -5});  // the dense step is unchanged
  CHECK(sync.batches.next == 6);  // no batch read that is never computed

  Run prefetch;
  prefetch.towers.tables = true;
  prefetch.options.prefetch = true;
  prefetch.options.end_step = 6;
  REQUIRE(prefetch.Go().ok());
  CHECK(prefetch.towers.rows_looked_up == 2);  // batch 1 computes during the first push
  CHECK(prefetch.towers.rows_from_push >= 4);
  CHECK(prefetch.towers.wrong_rows == 0);
  CHECK(prefetch.ps.keys_sent.front() == 2);  // push 0 carries the keys of batch 2
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
    kj::Promise<PushPullResult> PushPull(std::vector<int64_t>, std::vector<VariableGradient>, std::vector<TableLookupRequest>,
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
  run.TraceSteps(&recorder, 1, 3);
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
  std::set<int64_t> inputs;  // the input thread's work on each step's batch: a root span of the step
  for (const TraceSpan& s : t.spans) {
    if (s.name == "input") {
      CHECK(s.parent == 0);
      inputs.insert(s.step);
    }
    if (s.name == "step" || s.name == "input") continue;
    REQUIRE(by_id.count(s.parent) == 1);
    const TraceSpan* p = by_id[s.parent];
    if (p->name == "step") ++under_step[s.name];
    CHECK(p->start_ns <= s.start_ns);
    CHECK(s.end_ns <= p->end_ns);
  }
  CHECK(under_step == std::map<std::string, int>{{"compute", 3}, {"pull", 3}, {"push", 3}});
  CHECK(inputs == step_numbers);
  for (const TraceSpan& s : t.spans) {
    if (s.name == "fake pushPull") CHECK(by_id[s.parent]->name == "push");
    if (s.name == "fake kernel") CHECK(by_id[s.parent]->name == "compute");
  }
}

namespace {
// The spans of a traced run, by id, and the step spans in time order.
struct Traced {
  TaskTrace t;
  std::map<uint64_t, const TraceSpan*> by_id;
  std::vector<const TraceSpan*> steps;
  explicit Traced(TraceRecorder& recorder) : t(recorder.Take()) {
    for (const TraceSpan& s : t.spans) {
      by_id[s.id] = &s;
      if (s.name == "step") steps.push_back(&s);
    }
    std::sort(steps.begin(), steps.end(), [](auto* a, auto* b) { return a->start_ns < b->start_ns; });
  }
  // The one span named `name` under `step` (nullptr when there is none or several).
  const TraceSpan* Child(const TraceSpan& step, const std::string& name) const {
    const TraceSpan* found = nullptr;
    for (const TraceSpan& s : t.spans)
      if (s.parent == step.id && s.name == name) {
        if (found != nullptr) return nullptr;
        found = &s;
      }
    return found;
  }
  std::string Track(const TraceSpan& s) const { return t.tracks.at(static_cast<size_t>(s.track)); }
};
}  // namespace

TEST_CASE("a traced prefetch run files each step's compute, push, pull and input under that step, the compute "
          "overlapping the previous step's push") {
  Run run;
  run.options.prefetch = true;  // async
  run.options.end_step = 8;
  TraceRecorder recorder(SpanIdBase(1));
  run.TraceSteps(&recorder, 1, 3);
  REQUIRE(run.Go().ok());
  CHECK(recorder.in_flight() == 0);  // nothing left open for a collector to wait for
  Traced traced(recorder);
  REQUIRE(traced.steps.size() == 3);
  std::vector<std::string> details;
  std::set<int64_t> numbers;
  for (const TraceSpan* step : traced.steps) {
    details.push_back(step->detail);
    numbers.insert(step->step);
  }
  CHECK(details == std::vector<std::string>{"worker step 1", "worker step 2", "worker step 3"});
  // The global step each computed from: step 1 under step 0's push (0), then 1 and 2.
  CHECK(numbers == std::set<int64_t>{0, 1, 2});
  for (const TraceSpan* step : traced.steps) {
    INFO(step->detail);
    for (const char* phase : {"compute", "push", "pull"}) {
      INFO(phase);
      const TraceSpan* s = traced.Child(*step, phase);
      REQUIRE(s != nullptr);
      CHECK(s->step == step->step);
      CHECK(step->start_ns <= s->start_ns);
      CHECK(s->end_ns <= step->end_ns);
    }
    // The batch was read ahead on the input thread: a root span of this step.
    int inputs = 0;
    for (const TraceSpan& s : traced.t.spans)
      if (s.name == "input" && s.detail == step->detail) {
        ++inputs;
        CHECK(s.step == step->step);
        CHECK(s.parent == 0);
        CHECK(traced.Track(s) == "input");
        CHECK(s.end_ns <= traced.Child(*step, "compute")->end_ns);
      }
    CHECK(inputs == 1);
  }
  // Prefetch is visible: step n+1 computes while step n's push is in flight,
  // the two step spans overlap, on tracks of their own.
  for (size_t i = 0; i + 1 < traced.steps.size(); ++i) {
    const TraceSpan* push = traced.Child(*traced.steps[i], "push");
    const TraceSpan* compute = traced.Child(*traced.steps[i + 1], "compute");
    CHECK(push->start_ns <= compute->start_ns);
    CHECK(compute->start_ns < push->end_ns);
    CHECK(traced.Track(*traced.steps[i]) != traced.Track(*traced.steps[i + 1]));
  }
  for (const TraceSpan& s : traced.t.spans)
    if (s.name == "fake pushPull") CHECK(traced.by_id.at(s.parent)->name == "push");
}

TEST_CASE("a run that ends before its traced steps are done leaves nothing in flight") {
  Run run;
  run.options.prefetch = true;
  run.options.end_step = 2;  // steps 0 and 1 pushed; step 2 computed, never pushed
  TraceRecorder recorder(SpanIdBase(1));
  run.TraceSteps(&recorder, 1, 5);
  REQUIRE(run.Go().ok());
  CHECK(recorder.in_flight() == 0);
  Traced traced(recorder);
  CHECK(traced.steps.size() == 2);  // step 1, and step 2 with its compute only
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

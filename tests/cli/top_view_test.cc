// `flowps top`'s screen, computed from two samples of a cluster taken one
// second apart.
#include <catch2/catch.hpp>

#include "cli/top_view.h"

using namespace flowps;

namespace {

ClusterSpec TwoByTwo() {
  ClusterSpec spec;
  spec.path = "c.yaml";
  for (int i = 0; i < 2; ++i) {
    spec.ps.push_back(TaskSpec{"ps", i, "127.0.0.1", 7000 + i, {"cpu:0"}});
    spec.workers.push_back(TaskSpec{"worker", i, "127.0.0.1", 7100 + i, {"cpu:0"}});
  }
  return spec;
}

// Worker `i` after `steps` steps of 64 examples, each computing for `compute_s`.
WorkerReport Worker(const ClusterSpec& spec, int i, int64_t steps, double compute_s, int64_t global_step) {
  WorkerReport r;
  r.task = spec.workers[static_cast<size_t>(i)];
  r.job.state = JobState::kRunning;
  r.job.job = "mlp";
  r.job.job_id = "1";
  r.job.chief = i == 0;
  r.job.global_step = global_step;
  r.job.total_steps = 1000;
  r.job.local_steps = steps;
  WorkerMetrics m;
  StepRecord step;
  step.examples = 64;
  step.times.compute = compute_s;
  for (int64_t s = 0; s < steps; ++s) m.RecordStep(step);
  r.metrics = m.Read();
  return r;
}

ShardReport Shard(const ClusterSpec& spec, int i, int64_t applied) {
  ShardReport r;
  r.task = spec.ps[static_cast<size_t>(i)];
  r.stats.global_step = applied;
  r.stats.accepted = 2 * applied;
  r.stats.applied_updates = applied;
  r.stats.resident_bytes = 3 << 20;
  r.stats.apply_seconds = Histogram(Histogram::SecondsBounds()).Read();
  return r;
}

}  // namespace

TEST_CASE("top shows the step rate, each worker's rate and step-time split, and flags the slow worker") {
  const ClusterSpec spec = TwoByTwo();
  TopSample before{10.0, {Worker(spec, 0, 100, 0.01, 100), Worker(spec, 1, 100, 0.01, 100)},
                   {Shard(spec, 0, 100), Shard(spec, 1, 100)}};
  // One second later: worker 0 did 50 steps of 10 ms, worker 1 only 20 of 40 ms.
  TopSample now{11.0, {Worker(spec, 0, 150, 0.01, 150), Worker(spec, 1, 120, 0.01, 150)},
                {Shard(spec, 0, 150), Shard(spec, 1, 150)}};
  WorkerMetrics slow;
  StepRecord step;
  step.examples = 64;
  step.times.compute = 0.01;
  for (int s = 0; s < 100; ++s) slow.RecordStep(step);
  step.times.compute = 0.04;
  for (int s = 0; s < 20; ++s) slow.RecordStep(step);
  now.workers[1].metrics = slow.Read();

  const TopFrame frame = ComputeTopFrame(spec, &before, now);
  CHECK(frame.job_line.find("step 150/1000 (15.0%)  50.0 steps/s") != std::string::npos);
  REQUIRE(frame.workers.size() == 2);
  CHECK(frame.workers[0].examples_per_s == Approx(50 * 64));
  CHECK(frame.workers[0].compute_ms == Approx(10));
  CHECK(frame.workers[1].compute_ms == Approx(40));  // over the last second only
  CHECK(!frame.workers[0].straggler);
  CHECK(frame.workers[1].straggler);
  CHECK(frame.shards[0].pushes_per_s == Approx(100));  // two workers' pushes per step

  const std::string screen = RenderTopFrame(spec, frame, 200);
  CHECK(screen.find("/job:worker/task:1") != std::string::npos);
  CHECK(screen.find("STRAGGLER") != std::string::npos);
  CHECK(screen.find("/job:ps/task:0") != std::string::npos);
  CHECK(screen.find("3.0 MiB") != std::string::npos);
}

TEST_CASE("top shows a worker that does not answer as DOWN and a shard's error") {
  const ClusterSpec spec = TwoByTwo();
  TopSample now{1.0, {Worker(spec, 0, 10, 0.01, 10), Worker(spec, 1, 10, 0.01, 10)}, {Shard(spec, 0, 10), Shard(spec, 1, 10)}};
  now.workers[1].status = Unavailable("connection refused");
  now.shards[1].status = FailedPrecondition("this ps shard is not configured yet");
  const std::string screen = RenderTopFrame(spec, ComputeTopFrame(spec, nullptr, now), 0);
  CHECK(screen.find("/job:worker/task:1   DOWN  connection refused") != std::string::npos);
  CHECK(screen.find("this ps shard is not configured yet") != std::string::npos);
}

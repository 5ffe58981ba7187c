#include "bench/metrics_cost_bench.h"

#include <algorithm>
#include <time.h>

#include <chrono>

#include "bench/bench_runner.h"
#include "core/trace.h"
#include "graph/device.h"
#include "ps/shard_monitor.h"
#include "worker/local_model.h"
#include "worker/training_loop.h"
#include "worker/worker_metrics.h"

namespace flowps {
namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// What one step and its push count on a worker and a shard.
void CountStep(WorkerMetrics& worker, ps::ShardMonitor& shard, const StepRecord& record) {
  worker.RecordStep(record);
  shard.AddReceivedBytes(813056);
  shard.WaitBegins();
  shard.WaitEnds();
  shard.ObserveApply(0.0004);
  shard.AddSentBytes(813056);
}

double ThreadCpuNs() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

// CPU ns of this thread per call of `fn`, over `n` calls (CPU time, so that
// other processes sharing the cores do not inflate it as wall time would).
template <typename Fn>
double NsPerCall(int64_t n, Fn fn) {
  const double start = ThreadCpuNs();
  for (int64_t i = 0; i < n; ++i) fn(i);
  return (ThreadCpuNs() - start) / static_cast<double>(n);
}

Status RunMetricsCost(BenchContext& ctx) {
  auto options = ctx.options;
  FLOWPS_ASSIGN_OR_RETURN(int64_t steps, TakeIntOption(options, "steps", 300));
  FLOWPS_ASSIGN_OR_RETURN(int64_t warmup, TakeIntOption(options, "warmup", 30));
  FLOWPS_ASSIGN_OR_RETURN(int64_t hidden, TakeIntOption(options, "hidden", 256));
  FLOWPS_ASSIGN_OR_RETURN(int64_t batch, TakeIntOption(options, "batch", 64));
  FLOWPS_RETURN_IF_ERROR(RefuseUnknownOptions(options, "metrics-cost"));
  if (steps < 1 || warmup < 0 || hidden < 1 || batch < 1)
    return InvalidArgument("bench metrics-cost: steps, hidden and batch must be positive, warmup not negative");

  CpuDevice cpu("/job:worker/task:0/device:cpu:0");
  TowerOptions towers;
  towers.devices.push_back(&cpu);
  ModelSpec spec;
  spec.kind = ModelKind::kMlp;
  spec.hidden = {hidden};
  OptimizerConfig sgd;
  sgd.kind = OptimizerKind::kSgd;
  FLOWPS_ASSIGN_OR_RETURN(auto model, LocalModel::Create(spec, sgd, ctx.pool, towers));
  Tensor images(DType::kFloat32, Shape{batch, kImageFeatures});
  Tensor labels(DType::kInt32, Shape{batch});
  for (int64_t i = 0; i < images.num_elements(); ++i) images.data<float>()[i] = static_cast<float>(i % 255) / 255.f;
  for (int64_t i = 0; i < batch; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>(i % kNumClasses);
  const std::vector<std::pair<std::string, Tensor>> feeds = {{model->model().x.node->name(), images},
                                                             {model->model().y.node->name(), labels}};

  WorkerMetrics worker;
  ps::ShardMonitor shard;
  TraceRecorder recorder(SpanIdBase(1));
  StepRecord record;
  record.examples = batch;
  record.times = StepTimes{0.001, 0.004, 0.002, 0.0005};
  size_t spans_per_step = 0;

  enum Variant { kPlain, kMetrics, kTraced, kVariants };
  std::vector<double> us[kVariants];
  for (int64_t i = 0; i < warmup + steps; ++i) {
    for (int v = 0; v < kVariants; ++v) {
      TraceContext trace;
      if (v == kTraced) trace = TraceContext{&recorder, 0, 0, i}.OnTrack("step");
      const auto start = Clock::now();
      {
        TraceScope step_span(trace, "step", "step");
        FLOWPS_RETURN_IF_ERROR(model->ComputeGradients(feeds, step_span.child()).status());
      }
      if (v == kMetrics) CountStep(worker, shard, record);
      const double elapsed = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
      if (i >= warmup) us[v].push_back(elapsed);
    }
    spans_per_step = recorder.Take().spans.size();  // bounded: one step's spans at a time
    if (ctx.progress && (i + 1) % 100 == 0) ctx.progress("step " + std::to_string(i + 1));
  }
  const double plain = Median(us[kPlain]);
  const std::string step = "mlp_784_" + std::to_string(hidden) + "_10_b" + std::to_string(batch);
  ctx.emit({"gradient_step_" + step + "_plain_median_us", plain, "us", std::nullopt, std::nullopt});
  ctx.emit({"gradient_step_" + step + "_with_metrics_median_us", Median(us[kMetrics]), "us",
            "plain_median_us", plain});
  ctx.emit({"gradient_step_" + step + "_traced_median_us", Median(us[kTraced]), "us", "plain_median_us", plain});
  ctx.emit({"traced_step_spans", static_cast<double>(spans_per_step), "spans", std::nullopt, std::nullopt});

  // The hooks alone.
  ctx.emit({"count_step_and_push_ns", NsPerCall(1'000'000, [&](int64_t) { CountStep(worker, shard, record); }), "ns",
            std::nullopt, std::nullopt});
  TraceContext off;
  ctx.emit({"trace_hook_off_ns", NsPerCall(10'000'000, [&](int64_t) { TraceScope s(off, "node", "node"); }), "ns",
            std::nullopt, std::nullopt});
  TraceContext on = TraceContext{&recorder}.OnTrack("bench");
  ctx.emit({"trace_span_recorded_ns", NsPerCall(200'000, [&](int64_t i) {
              TraceScope s(on, "node", "node");
              if (i % 10000 == 9999) {
                s.End();
                recorder.Take();
              }
            }),
            "ns", std::nullopt, std::nullopt});
  return Status::OK();
}

}  // namespace

Benchmark MakeMetricsCostBenchmark() {
  return {"metrics-cost",
          "a worker's gradient step plain, with the metrics counters, and traced (median us), and the hooks alone (ns)",
          RunMetricsCost};
}

}  // namespace flowps

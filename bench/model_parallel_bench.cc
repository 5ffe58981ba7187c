#include "bench/model_parallel_bench.h"

#include <algorithm>
#include <chrono>
#include <fstream>

#include "bench/bench_runner.h"
#include "bench/layered_lstm.h"
#include "graph/device.h"
#include "core/chrome_trace.h"
#include "core/trace.h"
#include "graph/device_overlap.h"
#include "graph/graph_def.h"
#include "worker/local_model.h"

namespace flowps {
namespace {

struct Options {
  int64_t steps, warmup, batch, layers, time_steps, hidden, devices;
  std::string trace;  // a Chrome trace of one N-device step goes there ("": none)
};

StatusOr<Options> ReadOptions(std::map<std::string, std::string> opt) {
  Options o{};
  if (auto it = opt.find("trace"); it != opt.end()) {
    o.trace = it->second;
    opt.erase(it);
  }
  FLOWPS_ASSIGN_OR_RETURN(o.steps, TakeIntOption(opt, "steps", 30));
  FLOWPS_ASSIGN_OR_RETURN(o.warmup, TakeIntOption(opt, "warmup", 5));
  FLOWPS_ASSIGN_OR_RETURN(o.batch, TakeIntOption(opt, "batch", 64));
  FLOWPS_ASSIGN_OR_RETURN(o.layers, TakeIntOption(opt, "layers", 4));
  FLOWPS_ASSIGN_OR_RETURN(o.time_steps, TakeIntOption(opt, "time_steps", 8));
  FLOWPS_ASSIGN_OR_RETURN(o.hidden, TakeIntOption(opt, "hidden", 128));
  FLOWPS_ASSIGN_OR_RETURN(o.devices, TakeIntOption(opt, "devices", 4));
  FLOWPS_RETURN_IF_ERROR(RefuseUnknownOptions(opt, "model-parallel"));
  return o;
}

// One model-parallel worker's model on `n` CPU devices (soft placement folds
// the layers asking for the others onto cpu:0).
struct Replica {
  std::vector<std::unique_ptr<Device>> devices;
  std::unique_ptr<LocalModel> model;
};

StatusOr<Replica> MakeReplica(const std::string& graph_bytes, int64_t n, ThreadPool* pool) {
  Replica r;
  TowerOptions towers;
  for (int64_t i = 0; i < n; ++i) {
    r.devices.push_back(std::make_unique<CpuDevice>("/job:worker/task:0/device:cpu:" + std::to_string(i)));
    towers.devices.push_back(r.devices.back().get());
  }
  ModelSpec spec;
  spec.kind = ModelKind::kGraphFile;
  spec.graph_def = graph_bytes;
  spec.soft_placement = true;
  OptimizerConfig sgd;
  sgd.kind = OptimizerKind::kSgd;
  FLOWPS_ASSIGN_OR_RETURN(r.model, LocalModel::Create(spec, sgd, pool, towers));
  return r;
}

// The median microseconds of `steps` gradient steps after `warmup`.
StatusOr<double> MedianStepUs(LocalModel& model, const std::vector<std::pair<std::string, Tensor>>& feeds,
                              const Options& o) {
  std::vector<double> us;
  for (int64_t i = 0; i < o.warmup + o.steps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    FLOWPS_RETURN_IF_ERROR(model.ComputeGradients(feeds).status());
    if (i >= o.warmup) us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

Status RunModelParallelBenchmark(BenchContext& ctx) {
  FLOWPS_ASSIGN_OR_RETURN(Options o, ReadOptions(ctx.options));
  OpRegistry registry;
  FLOWPS_RETURN_IF_ERROR(RegisterStandardOps(&registry));
  LayeredLstmOptions lstm;
  lstm.layers = static_cast<int>(o.layers);
  lstm.steps = static_cast<int>(o.time_steps);
  lstm.features = 32;
  lstm.hidden = o.hidden;
  lstm.devices = static_cast<int>(o.devices);
  FLOWPS_ASSIGN_OR_RETURN(auto graph, BuildLayeredLstm(lstm, &registry));
  FLOWPS_ASSIGN_OR_RETURN(std::string bytes, SerializeGraph(*graph));

  Tensor x(DType::kFloat32, Shape{o.batch, lstm.steps * lstm.features});
  Tensor y(DType::kInt32, Shape{o.batch});
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = static_cast<float>(i % 17) / 17.f;
  for (int64_t i = 0; i < o.batch; ++i) y.data<int32_t>()[i] = static_cast<int32_t>(i % lstm.classes);
  const std::vector<std::pair<std::string, Tensor>> feeds = {{"x", x}, {"y", y}};

  FLOWPS_ASSIGN_OR_RETURN(Replica one, MakeReplica(bytes, 1, ctx.pool));
  FLOWPS_ASSIGN_OR_RETURN(Replica many, MakeReplica(bytes, o.devices, ctx.pool));
  if (ctx.progress) ctx.progress("1 device");
  FLOWPS_ASSIGN_OR_RETURN(double one_us, MedianStepUs(*one.model, feeds, o));
  if (ctx.progress) ctx.progress(std::to_string(o.devices) + " devices");
  FLOWPS_ASSIGN_OR_RETURN(double many_us, MedianStepUs(*many.model, feeds, o));

  TraceRecorder recorder(0);
  FLOWPS_RETURN_IF_ERROR(many.model->ComputeGradients(feeds, TraceContext{&recorder, recorder.Track("step"), 0, 0}).status());
  TaskTrace trace = recorder.Take();
  DeviceOverlap overlap = MeasureDeviceOverlap(trace);
  if (!o.trace.empty()) {
    std::ofstream out(o.trace);
    out << ChromeTraceJson({TraceSource{"worker:0", 0, {}, std::move(trace)}});
    if (!out.flush()) return Unavailable("bench model-parallel: cannot write the trace to " + o.trace);
    if (ctx.progress) ctx.progress("trace of one " + std::to_string(o.devices) + "-device step: " + o.trace);
  }

  const std::string name = "lstm_" + std::to_string(o.layers) + "x" + std::to_string(o.time_steps) + "_h" +
                           std::to_string(o.hidden) + "_b" + std::to_string(o.batch);
  ctx.emit({name + "_step_" + std::to_string(o.devices) + "dev_median_us", many_us, "us",
            name + "_step_1dev_median_us", one_us});
  ctx.emit({name + "_overlap_share", overlap.overlap_seconds / std::max(1e-9, overlap.busy_seconds), "of busy time",
            std::nullopt, std::nullopt});
  return Status::OK();
}

}  // namespace

Benchmark MakeModelParallelBenchmark() {
  return {"model-parallel",
          "a layered LSTM's gradient step on N CPU devices (layer d on cpu:d) vs 1 device, and its overlap", 
          RunModelParallelBenchmark};
}

}  // namespace flowps

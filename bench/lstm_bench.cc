#include "bench/lstm_bench.h"

#include <algorithm>
#include <chrono>

#include "bench/bench_runner.h"
#include "graph/device.h"
#include "worker/local_model.h"

namespace flowps {
namespace {

Status RunLstmBenchmark(BenchContext& ctx) {
  std::map<std::string, std::string> options = ctx.options;
  std::map<std::string, int64_t> o;
  for (const auto& [key, fallback] : std::vector<std::pair<std::string, int64_t>>{
           {"steps", 20}, {"warmup", 3}, {"batch", 32}, {"unroll", 64}, {"layers", 4}, {"hidden", 256},
           {"embedding", 64}, {"parts", 1}}) {
    FLOWPS_ASSIGN_OR_RETURN(o[key], TakeIntOption(options, key, fallback));
  }
  int64_t devices = 0;  // absent: no device requests
  if (options.count("devices") != 0) {
    FLOWPS_ASSIGN_OR_RETURN(devices, TakeIntOption(options, "devices", 1));
  }
  FLOWPS_RETURN_IF_ERROR(RefuseUnknownOptions(options, "lstm"));
  ModelSpec spec;
  spec.kind = ModelKind::kLstmLm;
  spec.unroll = o["unroll"];
  spec.layers = o["layers"];
  spec.hidden_size = o["hidden"];
  spec.embedding = o["embedding"];
  spec.softmax_parts = o["parts"];
  auto cpu = [](int64_t i) { return "/device:cpu:" + std::to_string(i); };
  for (int64_t d = 0; devices > 0 && d < spec.layers; ++d) spec.layer_devices.push_back(cpu(d % devices));
  for (int64_t p = 0; devices > 0 && p < spec.softmax_parts; ++p) spec.softmax_devices.push_back(cpu(p % devices));
  // The worker's devices the requests name: one replica over them (no towers).
  std::vector<std::unique_ptr<Device>> cpus;
  TowerOptions towers;
  for (int64_t i = 0; i < devices; ++i) {
    cpus.push_back(std::make_unique<CpuDevice>("/job:worker/task:0/device:cpu:" + std::to_string(i)));
    towers.devices.push_back(cpus.back().get());
  }
  FLOWPS_ASSIGN_OR_RETURN(auto model, LocalModel::Create(spec, OptimizerConfig{}, ctx.pool, towers));

  // A fixed batch of bytes: the step's cost does not depend on their values.
  const int64_t b = o["batch"], t = spec.unroll;
  Tensor tokens(DType::kInt32, Shape{b, t}), targets(DType::kInt32, Shape{b, t});
  for (int64_t i = 0; i < b * t; ++i) {
    tokens.data<int32_t>()[i] = static_cast<int32_t>(32 + i % 90);
    targets.data<int32_t>()[i] = static_cast<int32_t>(32 + (i + 1) % 90);
  }
  const std::vector<std::pair<std::string, Tensor>> feeds = {{"tokens", tokens}, {"targets", targets}};
  for (int64_t i = 0; i < o["warmup"]; ++i) FLOWPS_RETURN_IF_ERROR(model->ComputeGradients(feeds).status());
  std::vector<double> ms;
  for (int64_t i = 0; i < o["steps"]; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    FLOWPS_RETURN_IF_ERROR(model->ComputeGradients(feeds).status());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  const std::string name = "lstm_lm_l" + std::to_string(spec.layers) + "_h" + std::to_string(spec.hidden_size) +
                           "_t" + std::to_string(t) + "_b" + std::to_string(b) + "_parts" +
                           std::to_string(spec.softmax_parts) + (devices > 0 ? "_devices" + std::to_string(devices) : "");
  ctx.emit({name + "_step_median_ms", median, "ms", std::nullopt, std::nullopt});
  ctx.emit({name + "_chars_per_sec", 1e3 * static_cast<double>(b * t) / median, "chars/s", std::nullopt, std::nullopt});
  return Status::OK();
}

}  // namespace

Benchmark MakeLstmBenchmark() {
  return {"lstm", "one lstm_lm gradient step (4 LSTM layers of 256, 64 steps, batch 32), median milliseconds",
          RunLstmBenchmark};
}

}  // namespace flowps

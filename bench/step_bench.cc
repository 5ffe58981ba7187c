#include "bench/step_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "graph/device.h"
#include "worker/local_model.h"

namespace flowps {
namespace {

// Reads an integer option >= 1, refusing unknown keys and bad values.
Status ReadOptions(const std::map<std::string, std::string>& options, std::map<std::string, int64_t>* values) {
  for (const auto& [key, text] : options) {
    auto it = values->find(key);
    if (it == values->end()) return InvalidArgument("bench step: unknown option '" + key + "' (steps, warmup, batch, hidden, devices)");
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v < 1)
      return InvalidArgument("bench step: option " + key + "=" + text + " must be a positive integer");
    it->second = v;
  }
  return Status::OK();
}

Status RunStepBenchmark(BenchContext& ctx) {
  // devices 0 (not given): the local training step; N: a worker's step on N towers.
  std::map<std::string, int64_t> opt = {{"steps", 300}, {"warmup", 30}, {"batch", 64}, {"hidden", 256}, {"devices", 0}};
  FLOWPS_RETURN_IF_ERROR(ReadOptions(ctx.options, &opt));
  std::vector<std::unique_ptr<Device>> devices;
  TowerOptions towers;
  for (int64_t i = 0; i < opt["devices"]; ++i) {
    devices.push_back(std::make_unique<CpuDevice>("/job:worker/task:0/device:cpu:" + std::to_string(i)));
    towers.devices.push_back(devices.back().get());
  }
  ModelSpec spec;
  spec.kind = ModelKind::kMlp;
  spec.hidden = {opt["hidden"]};
  OptimizerConfig sgd;
  sgd.kind = OptimizerKind::kSgd;
  sgd.learning_rate = 0.01;
  FLOWPS_ASSIGN_OR_RETURN(auto model, LocalModel::Create(spec, sgd, ctx.pool, towers));

  // A fixed synthetic batch: the step's cost does not depend on the pixel values.
  const int64_t b = opt["batch"];
  Tensor images(DType::kFloat32, Shape{b, kImageFeatures});
  Tensor labels(DType::kInt32, Shape{b});
  for (int64_t i = 0; i < images.num_elements(); ++i) images.data<float>()[i] = static_cast<float>(i % 255) / 255.f;
  for (int64_t i = 0; i < b; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>(i % kNumClasses);

  auto step = [&]() -> Status {
    if (towers.devices.empty()) return model->Step(images, labels).status();
    return model->ComputeGradients(images, labels).status();
  };
  for (int64_t i = 0; i < opt["warmup"]; ++i) FLOWPS_RETURN_IF_ERROR(step());
  std::vector<double> us;
  for (int64_t i = 0; i < opt["steps"]; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    FLOWPS_RETURN_IF_ERROR(step());
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    if (ctx.progress && (i + 1) % 100 == 0) ctx.progress("step " + std::to_string(i + 1) + "/" + std::to_string(opt["steps"]));
  }
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[static_cast<size_t>(q * static_cast<double>(us.size() - 1))]; };
  std::string name = std::string(towers.devices.empty() ? "step" : "gradients") + "_mlp_" +
                     std::to_string(kImageFeatures) + "_" + std::to_string(opt["hidden"]) + "_10_b" + std::to_string(b);
  if (!towers.devices.empty()) name += "_devices" + std::to_string(opt["devices"]);
  ctx.emit({name + "_median_us", at(0.5), "us", std::nullopt, std::nullopt});
  ctx.emit({name + "_p90_us", at(0.9), "us", std::nullopt, std::nullopt});
  ctx.emit({name + "_examples_per_sec", 1e6 * static_cast<double>(b) / at(0.5), "examples/s", std::nullopt, std::nullopt});
  return Status::OK();
}

}  // namespace

Benchmark MakeStepBenchmark() {
  return {"step", "one MLP 784-256-10 training step at batch 64 (forward, backward, SGD), median microseconds",
          RunStepBenchmark};
}

}  // namespace flowps

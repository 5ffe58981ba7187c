#include <chrono>
#include <sstream>

#include "core/thread_pool.h"
#include "bench/ps_benchmarks.h"
#include "ps/variable_store.h"

namespace flowps {
namespace {

using namespace flowps::ps;  // NOLINT: the ps types this benchmark drives

using Clock = std::chrono::steady_clock;

StatusOr<double> NumberOption(const BenchContext& ctx, const std::string& key, double fallback) {
  auto it = ctx.options.find(key);
  if (it == ctx.options.end()) return fallback;
  try {
    size_t used = 0;
    double v = std::stod(it->second, &used);
    if (used == it->second.size() && v > 0) return v;
  } catch (const std::exception&) {
  }
  return InvalidArgument("bench ps-apply: --opt " + key + "=" + it->second + " is not a positive number");
}

Status RunPsApply(BenchContext& ctx) {
  for (const auto& [key, value] : ctx.options)
    if (key != "mb" && key != "seconds" && key != "optimizers")
      return InvalidArgument("bench ps-apply: unknown option '" + key + "' (known: mb, seconds, optimizers)");
  FLOWPS_ASSIGN_OR_RETURN(double mb, NumberOption(ctx, "mb", 100));
  FLOWPS_ASSIGN_OR_RETURN(double seconds, NumberOption(ctx, "seconds", 2));
  std::string names = ctx.options.count("optimizers") ? ctx.options.at("optimizers") : "sgd,momentum,adagrad,adam";

  const int64_t cols = 1000;
  const int64_t rows = static_cast<int64_t>(mb * 1e6 / 4 / cols);
  const Shape shape{rows, cols};
  Tensor grad = Tensor::Zeros(DType::kFloat32, shape);
  for (int64_t i = 0; i < grad.num_elements(); ++i) grad.data<float>()[i] = 1e-3f * static_cast<float>(i % 7);
  const double bytes = static_cast<double>(grad.num_bytes());

  std::stringstream list(names);
  for (std::string name; std::getline(list, name, ',');) {
    FLOWPS_ASSIGN_OR_RETURN(OptimizerKind kind, ParseOptimizerKind(name));
    OptimizerConfig config;
    config.kind = kind;
    config.learning_rate = 1e-3;
    VariableStore store(config, ctx.pool);
    VariableSpec spec;
    spec.name = "w";
    spec.full_shape = shape;
    bool created = false;
    FLOWPS_RETURN_IF_ERROR(store.Create(spec, &created));
    std::vector<Gradient> push = {Gradient{"w", grad, Tensor()}};
    FLOWPS_RETURN_IF_ERROR(store.Apply(push, 1));  // warm-up: touches every page
    int64_t updates = 0;
    const Clock::time_point start = Clock::now();
    double elapsed = 0;
    while (elapsed < seconds && updates < 10000) {
      FLOWPS_RETURN_IF_ERROR(store.Apply(push, updates + 2));
      ++updates;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    }
    if (ctx.progress) ctx.progress(name + ": " + std::to_string(updates) + " updates in " + std::to_string(elapsed) + " s");
    const std::string prefix = "ps_apply_" + name + "_" + std::to_string(static_cast<int>(mb)) + "mb";
    ctx.emit(Measurement{prefix + "_updates_per_s", updates / elapsed, "updates/s", std::nullopt, std::nullopt});
    ctx.emit(Measurement{prefix + "_gbytes_per_s", updates * bytes / elapsed / 1e9, "GB/s of variable",
                         std::nullopt, std::nullopt});
  }
  return Status::OK();
}

}  // namespace

Benchmark MakePsApplyBenchmark() {
  return Benchmark{"ps-apply", "optimizer updates/s on the ps for a 100 MB variable (dense push, all optimizers)",
                   RunPsApply};
}

}  // namespace flowps

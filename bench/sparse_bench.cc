#include "bench/sparse_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "bench/bench_runner.h"
#include "core/split_mix.h"
#include "ps/embedding_table.h"

namespace flowps {
namespace {

// This process's resident memory in MB (VmRSS of /proc/self/status).
double RssMB() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return 0;
}

StatusOr<std::vector<int64_t>> ParseSizes(const std::string& text) {
  std::vector<int64_t> sizes;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    if (end == item.c_str() || *end != '\0' || v < 1 || v > 4e9)
      return InvalidArgument("bench sparse: sizes: '" + item + "' is not a row count in [1, 4e9]");
    sizes.push_back(static_cast<int64_t>(v));
  }
  if (sizes.empty()) return InvalidArgument("bench sparse: sizes is empty");
  return sizes;
}

// Key i of the table: spread over the whole int64 range, as hashed ids are.
int64_t KeyOf(int64_t i) { return static_cast<int64_t>(SplitMix64(static_cast<uint64_t>(i))); }

struct SizeResult {
  double step_us = 0;
  double lookups_per_s = 0;
};

StatusOr<SizeResult> MeasureSize(BenchContext& ctx, const ps::EmbeddingTableSpec& spec, int64_t rows,
                                 int64_t batch, int64_t steps) {
  const double rss_before = RssMB();
  ps::EmbeddingTable table(spec);
  const int64_t dim = spec.dim;
  std::vector<int64_t> keys(static_cast<size_t>(std::min<int64_t>(rows, 1 << 16)));
  std::vector<float> out(keys.size() * static_cast<size_t>(dim));
  for (int64_t begin = 0; begin < rows; begin += static_cast<int64_t>(keys.size())) {
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(keys.size()), rows - begin);
    for (int64_t i = 0; i < n; ++i) keys[i] = KeyOf(begin + i);
    table.Lookup(keys.data(), n, 1, out.data());
  }
  ctx.progress("sparse: " + std::to_string(rows) + " rows filled");

  std::vector<int64_t> step_keys(static_cast<size_t>(batch));
  std::vector<float> values(step_keys.size() * static_cast<size_t>(dim)), grads(values.size(), 0.01f);
  std::vector<double> times;
  int64_t fresh = rows;
  uint64_t draw = 12345;
  for (int64_t s = 0; s < steps; ++s) {
    // Distinct keys: a random stride through the existing rows, and new ones.
    const int64_t old_keys = batch * 9 / 10;
    const int64_t start = static_cast<int64_t>(SplitMix64(++draw) % static_cast<uint64_t>(rows));
    const int64_t stride = 1 + static_cast<int64_t>(SplitMix64(++draw) % 1000003) * 2;
    for (int64_t i = 0; i < batch; ++i)
      step_keys[i] = i < old_keys && old_keys <= rows ? KeyOf((start + i * stride) % rows) : KeyOf(fresh++);
    const auto t0 = std::chrono::steady_clock::now();
    table.Lookup(step_keys.data(), batch, 2 + s, values.data());
    FLOWPS_RETURN_IF_ERROR(table.ApplyGradients(step_keys.data(), grads.data(), batch, 2 + s));
    times.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  SizeResult r;
  r.step_us = times[times.size() / 2];
  r.lookups_per_s = static_cast<double>(batch) / (r.step_us * 1e-6);
  const ps::EmbeddingTableStats stats = table.Stats();
  const std::string tag = "sparse_" + std::to_string(rows) + "_rows";
  ctx.emit({tag + "_step_us", r.step_us, "us", std::nullopt, std::nullopt});
  ctx.emit({tag + "_lookups_per_core", r.lookups_per_s, "keys/s", std::nullopt, std::nullopt});
  ctx.emit({tag + "_table_bytes_over_row_bytes",
            static_cast<double>(stats.memory_bytes) / static_cast<double>(stats.row_bytes), "x", std::nullopt,
            std::nullopt});
  ctx.emit({tag + "_rss_mb", RssMB() - rss_before, "MB", tag + "_row_and_slot_mb",
            static_cast<double>(stats.row_bytes) / (1 << 20)});
  return r;
}

Status RunSparse(BenchContext& ctx) {
  auto options = ctx.options;
  const std::string sizes_text = options.count("sizes") ? options.at("sizes") : "1e5,1e6,1e7";
  const std::string optimizer = options.count("optimizer") ? options.at("optimizer") : "adagrad";
  options.erase("sizes");
  options.erase("optimizer");
  FLOWPS_ASSIGN_OR_RETURN(int64_t dim, TakeIntOption(options, "dim", 16));
  FLOWPS_ASSIGN_OR_RETURN(int64_t batch, TakeIntOption(options, "batch", 8192));
  FLOWPS_ASSIGN_OR_RETURN(int64_t steps, TakeIntOption(options, "steps", 50));
  FLOWPS_RETURN_IF_ERROR(RefuseUnknownOptions(options, "sparse"));
  FLOWPS_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, ParseSizes(sizes_text));
  if (dim < 1 || batch < 1 || steps < 1) return InvalidArgument("bench sparse: dim, batch and steps must be >= 1");

  ps::EmbeddingTableSpec spec;
  spec.name = "bench";
  spec.dim = dim;
  spec.initializer.kind = kernels::InitializerKind::kUniform;
  FLOWPS_ASSIGN_OR_RETURN(spec.optimizer.kind, ParseOptimizerKind(optimizer));
  spec.optimizer.learning_rate = 0.01;
  FLOWPS_RETURN_IF_ERROR(spec.Validate());
  std::vector<SizeResult> results;
  for (int64_t rows : sizes) {
    FLOWPS_ASSIGN_OR_RETURN(SizeResult r, MeasureSize(ctx, spec, rows, batch, steps));
    results.push_back(r);
  }
  ctx.emit({"sparse_largest_over_smallest_step", results.back().step_us / results.front().step_us, "x",
            std::nullopt, std::nullopt});
  return Status::OK();
}

}  // namespace

Benchmark MakeSparseBenchmark() {
  return {"sparse", "ps embedding table step (lookup + push of a batch) as the table grows 1e5 -> 1e7 rows",
          RunSparse};
}

}  // namespace flowps

#include "bench/sparse_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "bench/bench_runner.h"
#include "bench/loopback_ps_server.h"
#include "core/split_mix.h"
#include "net/ps_client.h"
#include "net/rpc_common.h"
#include "net/table_keys.h"
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

// The keys of one step: `ids` ids, 90% of them existing rows (a random
// stride through the first `rows` keys), 10% new (from *fresh on).
std::vector<int64_t> StepIds(int64_t ids, int64_t rows, int64_t* fresh, uint64_t* draw) {
  std::vector<int64_t> keys(static_cast<size_t>(ids));
  const int64_t old_keys = ids * 9 / 10;
  const int64_t start = static_cast<int64_t>(SplitMix64(++*draw) % static_cast<uint64_t>(rows));
  const int64_t stride = 1 + static_cast<int64_t>(SplitMix64(++*draw) % 1000003) * 2;
  for (int64_t i = 0; i < ids; ++i)
    keys[static_cast<size_t>(i)] = i < old_keys && old_keys <= rows ? KeyOf((start + i * stride) % rows) : KeyOf((*fresh)++);
  return keys;
}

struct SizeResult {
  double step_us = 0;
  double lookups_per_s = 0;
};

// One size's figures, emitted under `tag`: the median step, ids per second,
// the tables' bytes over their row and slot bytes, and the RSS growth.
SizeResult Report(BenchContext& ctx, const std::string& tag, std::vector<double> step_us, int64_t ids,
                  int64_t memory_bytes, int64_t row_bytes, double rss_growth_mb) {
  std::sort(step_us.begin(), step_us.end());
  SizeResult r;
  r.step_us = step_us[step_us.size() / 2];
  r.lookups_per_s = static_cast<double>(ids) / (r.step_us * 1e-6);
  ctx.emit({tag + "_step_us", r.step_us, "us", std::nullopt, std::nullopt});
  ctx.emit({tag + "_ids_per_s", r.lookups_per_s, "ids/s", std::nullopt, std::nullopt});
  ctx.emit({tag + "_table_bytes_over_row_bytes", static_cast<double>(memory_bytes) / static_cast<double>(row_bytes),
            "x", std::nullopt, std::nullopt});
  ctx.emit({tag + "_rss_mb", rss_growth_mb, "MB", tag + "_row_and_slot_mb", static_cast<double>(row_bytes) / (1 << 20)});
  return r;
}

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

  std::vector<float> values(static_cast<size_t>(batch * dim)), grads(values.size(), 0.01f);
  std::vector<double> times;
  int64_t fresh = rows;
  uint64_t draw = 12345;
  for (int64_t s = 0; s < steps; ++s) {
    // Distinct keys: a random stride through the existing rows, and new ones.
    const std::vector<int64_t> step_keys = StepIds(batch, rows, &fresh, &draw);
    const auto t0 = std::chrono::steady_clock::now();
    table.Lookup(step_keys.data(), batch, 2 + s, values.data());
    FLOWPS_RETURN_IF_ERROR(table.ApplyGradients(step_keys.data(), grads.data(), batch, 2 + s));
    times.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  const ps::EmbeddingTableStats stats = table.Stats();
  return Report(ctx, "sparse_" + std::to_string(rows) + "_rows", std::move(times), batch, stats.memory_bytes,
                stats.row_bytes, RssMB() - rss_before);
}

constexpr const char* kRpcToken = "sparse-bench";
constexpr int64_t kHidden = 32;

// The dense variables of wide_deep's MLP on a deep table of `dim`.
std::vector<VariableInfo> MlpVariables(int64_t dim) {
  return {{"deep/hidden0/W", DType::kFloat32, Shape{dim, kHidden}},
          {"deep/hidden0/b", DType::kFloat32, Shape{kHidden}},
          {"deep/out/W", DType::kFloat32, Shape{kHidden, 1}},
          {"deep/out/b", DType::kFloat32, Shape{1}}};
}

// One worker's wide_deep step over loopback RPC to 2 ps shards of this
// process, its tables ('wide' dim 1 FTRL, 'deep' dim `dim` Adagrad) holding
// `rows` keys each: the batch's `ids` ids deduplicated and split by shard
// (TableKeys), one pushPull per shard with the MLP's dense gradients and both
// tables' rows by key, carrying the next batch's keys; and the same step with
// a lookupTables per shard of its own first. The graph's compute is left out:
// it does not depend on the table's size.
StatusOr<SizeResult> MeasureRpcSize(BenchContext& ctx, int64_t rows, int64_t dim, int64_t ids, int64_t steps) {
  const double rss_before = RssMB();
  std::vector<std::unique_ptr<RpcServer>> servers;
  for (int k = 0; k < 2; ++k) {
    FLOWPS_ASSIGN_OR_RETURN(auto server, StartLoopbackPsServer(ctx.pool, kRpcToken, "127.0.0.1:0", k, 2));
    servers.push_back(std::move(server));
  }
  PsClientOptions options;
  for (const auto& s : servers) options.shard_addresses.push_back(s->address());
  options.token = kRpcToken;
  FLOWPS_ASSIGN_OR_RETURN(PartitionPlan plan, PlanPartitions(MlpVariables(dim), 2, 1 << 20));
  auto io = kj::setupAsyncIo();
  PsClient client(io, options, plan);
  PsJobConfig config;
  config.mode = TrainingMode::kSync;
  config.optimizer.kind = OptimizerKind::kAdam;
  config.optimizer.learning_rate = 0.001;
  FLOWPS_RETURN_IF_ERROR(WaitFor(client.Configure(config), io.waitScope, "configure").status());
  FLOWPS_RETURN_IF_ERROR(WaitFor(client.CreateVariables({}), io.waitScope, "createVariables").status());
  TableConfig wide, deep;
  wide.name = "wide";
  wide.dim = 1;
  wide.optimizer.kind = OptimizerKind::kFtrl;
  wide.optimizer.learning_rate = 0.1;
  deep.name = "deep";
  deep.dim = dim;
  deep.initializer.kind = "uniform";
  deep.optimizer.kind = OptimizerKind::kAdagrad;
  deep.optimizer.learning_rate = 0.05;
  FLOWPS_RETURN_IF_ERROR(WaitFor(client.CreateTables({wide, deep}), io.waitScope, "createTables").status());

  // Fill both tables through lookups, a chunk of keys per call.
  constexpr int64_t kChunk = int64_t{1} << 17;
  std::vector<int64_t> chunk;
  for (int64_t begin = 0; begin < rows; begin += kChunk) {
    chunk.clear();
    for (int64_t i = begin; i < std::min(rows, begin + kChunk); ++i) chunk.push_back(KeyOf(i));
    TableKeys keys(chunk.data(), static_cast<int64_t>(chunk.size()), 2);
    FLOWPS_RETURN_IF_ERROR(
        WaitFor(client.LookupTables({{"wide", &keys}, {"deep", &keys}}, true), io.waitScope, "fill").status());
  }
  ctx.progress("sparse (rpc): " + std::to_string(rows) + " rows in each table");

  std::vector<VariableGradient> dense;
  std::vector<std::string> names;
  for (const VariableInfo& v : MlpVariables(dim)) {
    Tensor zeros(DType::kFloat32, v.shape);
    std::fill(zeros.data<float>(), zeros.data<float>() + zeros.num_elements(), 0.001f);
    dense.push_back(VariableGradient{v.name, zeros, {}, false});
    names.push_back(v.name);
  }
  std::vector<int64_t> shard_steps = {0, 0};
  int64_t fresh = rows;
  uint64_t draw = 12345;
  // The gradients of a batch: the dense ones and both tables' rows by key.
  auto gradients = [&](const TableKeys& keys) {
    std::vector<VariableGradient> grads = dense;
    const std::vector<int64_t> distinct = keys.ConcatenatedKeys();
    for (const auto& [table, d] : {std::pair<std::string, int64_t>{"wide", 1}, {"deep", dim}}) {
      Tensor g(DType::kFloat32, Shape{static_cast<int64_t>(distinct.size()), d});
      std::fill(g.data<float>(), g.data<float>() + g.num_elements(), 0.01f);
      VariableGradient tg{table, g, distinct, true};
      tg.table = true;
      grads.push_back(std::move(tg));
    }
    return grads;
  };
  // The two ways, step by step in turn, so that both see the same load on the machine.
  // Separate: the batch's rows by a lookupTables per shard, then a pushPull per shard.
  // With the push: one pushPull per shard carries the next batch's keys and answers their rows (the
  // first batch's are looked up on their own, untimed).
  std::vector<double> separate, with_push;
  std::vector<int64_t> next_ids = StepIds(ids, rows, &fresh, &draw);
  auto next = std::make_unique<TableKeys>(next_ids.data(), ids, 2);
  FLOWPS_RETURN_IF_ERROR(
      WaitFor(client.LookupTables({{"wide", next.get()}, {"deep", next.get()}}, true), io.waitScope, "lookupTables")
          .status());
  for (int64_t s = 0; s < steps; ++s) {
    const std::vector<int64_t> step_ids = StepIds(ids, rows, &fresh, &draw);
    auto t0 = std::chrono::steady_clock::now();
    TableKeys separate_keys(step_ids.data(), ids, 2);
    FLOWPS_RETURN_IF_ERROR(WaitFor(client.LookupTables({{"wide", &separate_keys}, {"deep", &separate_keys}}, true),
                                   io.waitScope, "lookupTables")
                               .status());
    FLOWPS_ASSIGN_OR_RETURN(PushPullResult plain,
                            WaitFor(client.PushPull(0, shard_steps, gradients(separate_keys), PullSpec{names, {}}),
                                    io.waitScope, "pushPull"));
    shard_steps = plain.pulled.shard_steps;
    separate.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());

    next_ids = StepIds(ids, rows, &fresh, &draw);  // the pipeline has the next batch ready
    t0 = std::chrono::steady_clock::now();
    std::unique_ptr<TableKeys> keys = std::move(next);
    next = std::make_unique<TableKeys>(next_ids.data(), ids, 2);
    PullSpec spec{names, {}, {{"wide", next.get()}, {"deep", next.get()}}};
    FLOWPS_ASSIGN_OR_RETURN(PushPullResult r, WaitFor(client.PushPull(0, shard_steps, gradients(*keys), spec),
                                                      io.waitScope, "pushPull"));
    if (r.tables.rows.size() != 2) return Internal("bench sparse: the pushPull answered no table rows");
    shard_steps = r.pulled.shard_steps;
    with_push.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  FLOWPS_ASSIGN_OR_RETURN(std::vector<ShardStatsReply> stats, WaitFor(client.Stats(), io.waitScope, "stats"));
  int64_t row_bytes = 0, memory_bytes = 0;
  for (const ShardStatsReply& shard : stats)
    for (const TableShardStats& t : shard.tables) row_bytes += t.row_bytes, memory_bytes += t.memory_bytes;
  const std::string tag = "sparse_rpc_" + std::to_string(rows) + "_rows";
  const SizeResult before =
      Report(ctx, tag + "_separate_lookup", std::move(separate), ids, memory_bytes, row_bytes, RssMB() - rss_before);
  const SizeResult after = Report(ctx, tag, std::move(with_push), ids, memory_bytes, row_bytes, RssMB() - rss_before);
  ctx.emit({tag + "_step_over_separate_lookup", after.step_us / before.step_us, "x", std::nullopt, std::nullopt});
  return after;
}

Status RunSparse(BenchContext& ctx) {
  auto options = ctx.options;
  const std::string sizes_text = options.count("sizes") ? options.at("sizes") : "1e5,1e6,1e7";
  const std::string optimizer = options.count("optimizer") ? options.at("optimizer") : "adagrad";
  const std::string path = options.count("path") ? options.at("path") : "rpc";
  options.erase("sizes");
  options.erase("optimizer");
  options.erase("path");
  if (path != "rpc" && path != "table") return InvalidArgument("bench sparse: path must be rpc or table, got '" + path + "'");
  const bool rpc = path == "rpc";
  FLOWPS_ASSIGN_OR_RETURN(int64_t dim, TakeIntOption(options, "dim", rpc ? 8 : 16));
  FLOWPS_ASSIGN_OR_RETURN(int64_t batch, TakeIntOption(options, "batch", rpc ? 4096 : 8192));
  FLOWPS_ASSIGN_OR_RETURN(int64_t steps, TakeIntOption(options, "steps", rpc ? 100 : 50));
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
    StatusOr<SizeResult> r = rpc ? MeasureRpcSize(ctx, rows, dim, batch, steps) : MeasureSize(ctx, spec, rows, batch, steps);
    if (!r.ok()) return r.status();
    results.push_back(*r);
  }
  ctx.emit({std::string(rpc ? "sparse_rpc" : "sparse") + "_largest_over_smallest_step",
            results.back().step_us / results.front().step_us, "x", std::nullopt, std::nullopt});
  return Status::OK();
}

}  // namespace

Benchmark MakeSparseBenchmark() {
  return {"sparse", "ps embedding table step (lookup + push of a batch) as the table grows 1e5 -> 1e7 rows",
          RunSparse};
}

}  // namespace flowps


#include <chrono>
#include <sstream>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "bench/tcp_baselines.h"
#include "core/logging.h"
#include "net/ps_client.h"
#include "net/rpc_common.h"
#include "net/rpc_server.h"
#include "bench/loopback_ps_server.h"
#include "core/memory_tuning.h"
#include "bench/ps_benchmarks.h"

namespace flowps {
namespace {

using namespace flowps::ps;  // NOLINT: the ps types this benchmark drives

using Clock = std::chrono::steady_clock;
constexpr const char* kToken = "pushpull-bench";

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

StatusOr<std::vector<int>> ParseSizes(const std::string& text) {
  std::vector<int> sizes;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    try {
      size_t used = 0;
      int v = std::stoi(item, &used);
      if (used == item.size() && v > 0 && v <= 4096) {
        sizes.push_back(v);
        continue;
      }
    } catch (const std::exception&) {
    }
    return InvalidArgument("bench pushpull: --opt sizes=" + text + " must list sizes in MiB, e.g. 1,16,64,256");
  }
  return sizes;
}

Status RunPushPull(BenchContext& ctx) {
  for (const auto& [key, value] : ctx.options)
    if (key != "sizes" && key != "reps" && key != "bfloat16")
      return InvalidArgument("bench pushpull: unknown option '" + key + "' (known: sizes, reps, bfloat16)");
  FLOWPS_ASSIGN_OR_RETURN(std::vector<int> sizes,
                          ParseSizes(ctx.options.count("sizes") ? ctx.options.at("sizes") : "1,16,64,256"));
  int reps = 5;
  if (ctx.options.count("reps")) {
    reps = std::atoi(ctx.options.at("reps").c_str());
    if (reps < 1 || reps > 1000) return InvalidArgument("bench pushpull: --opt reps must be in 1..1000");
  }
  const bool bf16 = ctx.options.count("bfloat16") && ctx.options.at("bfloat16") == "1";
  // As flowps-ps does at start (see memory_tuning.h); this process plays both ends.
  KeepLargeBuffersResident();

  // One ps shard in this process, reached over loopback TCP like any other.
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<RpcServer> server, StartLoopbackPsServer(ctx.pool, kToken));

  auto io = kj::setupAsyncIo();
  for (int mib : sizes) {
    const int64_t floats = int64_t{mib} << 18;
    const std::string name = "w" + std::to_string(mib);
    FLOWPS_ASSIGN_OR_RETURN(PartitionPlan plan, PlanPartitions({{name, DType::kFloat32, Shape{floats}}}, 1, 0));
    PsClientOptions client_options;
    client_options.shard_addresses = {server->address()};
    client_options.token = kToken;
    client_options.bfloat16 = bf16;
    PsClient client(io, client_options, plan);
    PsJobConfig config;
    config.mode = TrainingMode::kAsync;
    config.optimizer.kind = OptimizerKind::kSgd;
    config.optimizer.learning_rate = 1e-6;
    FLOWPS_RETURN_IF_ERROR(WaitFor(client.Configure(config), io.waitScope, "configure").status());
    FLOWPS_RETURN_IF_ERROR(WaitFor(client.CreateVariables({}), io.waitScope, "create").status());
    Tensor grad = Tensor::Zeros(DType::kFloat32, Shape{floats});

    int64_t step = 0;
    auto push = [&]() -> Status {
      auto r = WaitFor(client.Push(0, {step}, {VariableGradient{name, grad, {}, false}}), io.waitScope, "push");
      if (r.ok()) step = (*r)[0].global_step;
      return r.status();
    };
    auto pull = [&]() { return WaitFor(client.Pull({name}), io.waitScope, "pull").status(); };
    FLOWPS_RETURN_IF_ERROR(push());  // warm-up: connection, first-touch of buffers
    FLOWPS_RETURN_IF_ERROR(pull());
    Clock::time_point start = Clock::now();
    for (int r = 0; r < reps; ++r) FLOWPS_RETURN_IF_ERROR(push());
    const double push_mbps = static_cast<double>(grad.num_bytes()) * reps / Seconds(start) / 1e6;
    start = Clock::now();
    for (int r = 0; r < reps; ++r) FLOWPS_RETURN_IF_ERROR(pull());
    const double pull_mbps = static_cast<double>(grad.num_bytes()) * reps / Seconds(start) / 1e6;
    // A training step: one pushPull that pushes the gradient and reads the variable back.
    start = Clock::now();
    for (int r = 0; r < reps; ++r) {
      auto pp = WaitFor(client.PushPull(0, {step}, {VariableGradient{name, grad, {}, false}}, PullSpec{{name}, {}}),
                        io.waitScope, "pushPull");
      FLOWPS_RETURN_IF_ERROR(pp.status());
      step = pp->pulled.shard_steps[0];
    }
    const double step_mbps = 2.0 * static_cast<double>(grad.num_bytes()) * reps / Seconds(start) / 1e6;
    FLOWPS_ASSIGN_OR_RETURN(double tcp, TcpLoopbackMBps(grad.num_bytes(), reps));

    const std::string prefix = "pushpull_" + std::to_string(mib) + "mib" + (bf16 ? "_bf16" : "");
    ctx.emit(Measurement{prefix + "_push_MBps", push_mbps, "MB/s", "tcp_loopback_" + std::to_string(mib) + "mib_MBps", tcp});
    ctx.emit(Measurement{prefix + "_pull_MBps", pull_mbps, "MB/s", "tcp_loopback_" + std::to_string(mib) + "mib_MBps", tcp});
    ctx.emit(Measurement{prefix + "_pushpull_MBps", step_mbps, "MB/s (both ways)",
                         "tcp_loopback_" + std::to_string(mib) + "mib_MBps", tcp});
    if (ctx.progress)
      ctx.progress(std::to_string(mib) + " MiB: push " + std::to_string(push_mbps / tcp) + "x, pull " +
                   std::to_string(pull_mbps / tcp) + "x, pushPull " + std::to_string(step_mbps / tcp) +
                   "x of loopback TCP");
  }
  return Status::OK();
}

}  // namespace

Benchmark MakePushPullBenchmark() {
  return Benchmark{"pushpull",
                   "dense push and pull of 1, 16, 64, 256 MiB between a client and one ps over loopback, beside raw "
                   "loopback TCP in the same run",
                   RunPushPull};
}

}  // namespace flowps

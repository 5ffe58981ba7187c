#include "bench/train_bench.h"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "core/cluster_spec.h"
#include "core/logging.h"
#include "net/loopback_port.h"
#include "net/rpc_server.h"
#include "bench/loopback_ps_server.h"
#include "worker/worker_runtime.h"

namespace flowps {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kToken = "train-bench";

// A loopback port that was free a moment ago.
std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) items.push_back(item);
  return items;
}

struct RunResult {
  double examples_per_sec = 0;
  double seconds_to_target = -1;  // -1: not reached
  double final_accuracy = 0;
};

// One ps and `workers` workers, each an RpcServer of this process on loopback
// (the same services as flowps-ps and flowps-worker), training the MLP until
// the chief's test accuracy reaches `target` or `max_seconds` pass.
StatusOr<RunResult> TrainOnce(BenchContext& ctx, const std::string& mode, int workers, int devices, double target,
                              double max_seconds, const std::string& data) {
  LogSinks silent = {std::make_shared<spdlog::sinks::null_sink_mt>()};
  ClusterSpec spec;
  spec.path = "(bench train)";
  spec.token = kToken;
  spec.ps.push_back(TaskSpec{"ps", 0, "127.0.0.1", FreeLoopbackPort(), {"cpu:0"}});
  std::vector<std::string> worker_devices;
  for (int d = 0; d < devices; ++d) worker_devices.push_back("cpu:" + std::to_string(d));
  for (int w = 0; w < workers; ++w)
    spec.workers.push_back(TaskSpec{"worker", w, "127.0.0.1", FreeLoopbackPort(), worker_devices});

  std::vector<std::unique_ptr<RpcServer>> servers;
  auto serve = [&](const TaskSpec& task, ServiceFactories services) -> Status {
    RpcServerOptions o;
    o.bind_address = task.address();
    o.token = kToken;
    o.task_name = task.name();
    o.pool = ctx.pool;
    o.logger = MakeLogger("net", silent);
    FLOWPS_ASSIGN_OR_RETURN(auto server, RpcServer::Start(o, std::move(services)));
    servers.push_back(std::move(server));
    return Status::OK();
  };
  FLOWPS_ASSIGN_OR_RETURN(auto ps_server, StartLoopbackPsServer(ctx.pool, kToken, spec.ps[0].address()));
  servers.push_back(std::move(ps_server));
  std::vector<std::shared_ptr<WorkerRuntime>> runtimes;
  for (int w = 0; w < workers; ++w) {
    auto rt = std::make_shared<WorkerRuntime>(spec, w, ctx.pool, MakeLogger("worker", silent));
    runtimes.push_back(rt);
    ServiceFactories services;
    services["worker"] = [rt](ServiceEnv& env) { return NewWorkerControl(env, rt); };
    FLOWPS_RETURN_IF_ERROR(serve(spec.workers[static_cast<size_t>(w)], services));
  }

  std::string yaml = "name: bench-train\nmodel:\n  type: mlp\n  hidden: [256]\n  seed: 1\n";
  yaml += "data:\n  path: " + data + "\n  batch_size: 64\n  seed: 1\n";
  yaml += "optimizer:\n  type: adam\n  learning_rate: 0.001\n";
  yaml += "mode:\n  type: " + mode + "\n  total_workers: " + std::to_string(workers) + "\n";
  if (mode == "sync") yaml += "  replicas_to_aggregate: " + std::to_string(workers) + "\n";
  yaml += "train:\n  epochs: 20\n  log_every_steps: 100\n  eval_every_steps: " +
          std::to_string(mode == "sync" ? 100 : 100 * workers) + "\n";
  FLOWPS_RETURN_IF_ERROR(runtimes[0]->Submit(yaml, "(bench train job)"));

  RunResult result;
  const Clock::time_point start = Clock::now();
  WorkerJobStatus s;
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    s = runtimes[0]->Snapshot();
    if (s.state == "failed") return Internal("bench train: the job failed: " + s.error);
    if (s.test_accuracy >= target && result.seconds_to_target < 0) {
      result.seconds_to_target = s.elapsed_seconds;
      break;
    }
    if (s.state == "done" || std::chrono::duration<double>(Clock::now() - start).count() > max_seconds) break;
  }
  int64_t examples = 0;
  for (auto& rt : runtimes) examples += rt->Snapshot().examples;
  result.examples_per_sec = s.elapsed_seconds > 0 ? static_cast<double>(examples) / s.elapsed_seconds : 0;
  result.final_accuracy = s.test_accuracy;
  for (auto& rt : runtimes) rt->Stop();
  return result;
}

Status RunTrain(BenchContext& ctx) {
  for (const auto& [key, value] : ctx.options)
    if (key != "workers" && key != "modes" && key != "target" && key != "max_seconds" && key != "data" &&
        key != "devices")
      return InvalidArgument("bench train: unknown option '" + key +
                             "' (known: workers, modes, target, max_seconds, data, devices)");
  auto opt = [&](const std::string& key, const std::string& fallback) {
    return ctx.options.count(key) ? ctx.options.at(key) : fallback;
  };
  const double target = std::atof(opt("target", "0.85").c_str());
  const double max_seconds = std::atof(opt("max_seconds", "300").c_str());
  if (target <= 0 || target >= 1) return InvalidArgument("bench train: --opt target must be in (0, 1), e.g. 0.85");
  if (max_seconds <= 0) return InvalidArgument("bench train: --opt max_seconds must be positive");
  const std::string data = opt("data", "/usr/share/datasets/fashion-mnist");
  const int devices = std::atoi(opt("devices", "1").c_str());
  if (devices < 1 || devices > 8 || std::to_string(devices) != opt("devices", "1"))
    return InvalidArgument("bench train: --opt devices (CPU towers per worker) must be in 1..8");
  for (const std::string& mode : SplitList(opt("modes", "sync,async"))) {
    if (mode != "sync" && mode != "async") return InvalidArgument("bench train: --opt modes lists sync and/or async");
    for (const std::string& count : SplitList(opt("workers", "1,2,4"))) {
      const int workers = std::atoi(count.c_str());
      if (workers < 1 || workers > 16 || std::to_string(workers) != count)
        return InvalidArgument("bench train: --opt workers lists counts in 1..16, e.g. 1,2,4");
      FLOWPS_ASSIGN_OR_RETURN(RunResult r, TrainOnce(ctx, mode, workers, devices, target, max_seconds, data));
      const std::string name = "train_mlp_" + mode + "_" + std::to_string(workers) + "w" +
                               (devices > 1 ? "_" + std::to_string(devices) + "dev" : "");
      ctx.emit(Measurement{name + "_examples_per_sec", r.examples_per_sec, "examples/s", std::nullopt, std::nullopt});
      ctx.emit(Measurement{name + "_seconds_to_" + std::to_string(static_cast<int>(target * 100 + 0.5)) + "pct",
                           r.seconds_to_target, "s (-1: not reached)", std::nullopt, std::nullopt});
      if (ctx.progress)
        ctx.progress(name + ": final test accuracy " + std::to_string(r.final_accuracy));
    }
  }
  return Status::OK();
}

}  // namespace

Benchmark MakeTrainBenchmark() {
  return Benchmark{"train",
                   "the MLP on Fashion-MNIST, 1 ps and 1, 2, 4 workers, sync and async: examples/s and seconds to 85% "
                   "test accuracy",
                   RunTrain};
}

}  // namespace flowps

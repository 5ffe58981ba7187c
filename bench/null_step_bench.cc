#include "bench/null_step_bench.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <sstream>
#include <thread>

#include "net/ps_client.h"
#include "net/rpc_common.h"
#include "net/rpc_server.h"
#include "ps/loopback_ps_server.h"

namespace flowps {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kToken = "null-step-bench";

StatusOr<std::vector<int>> ParseCounts(const std::string& text) {
  std::vector<int> counts;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    int v = std::atoi(item.c_str());
    if (v < 1 || v > 16 || std::to_string(v) != item)
      return InvalidArgument("bench null-step: --opt workers=" + text + " must list worker counts in 1..16, e.g. 1,2,4");
    counts.push_back(v);
  }
  return counts;
}

// Median step time (ms) of `workers` workers, each in its own thread with its
// own PsClient, doing `steps` sync steps: pull every variable, push zero
// gradients, wait for the step. The ps is one shard in this process.
StatusOr<double> MedianStepMs(BenchContext& ctx, int64_t floats, int workers, int steps) {
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<RpcServer> server, ps::StartLoopbackPsServer(ctx.pool, kToken));

  const Shape shape = floats == 1 ? Shape{} : Shape{floats};
  FLOWPS_ASSIGN_OR_RETURN(PartitionPlan plan, PlanPartitions({{"w", DType::kFloat32, shape}}, 1, 0));
  PsClientOptions client_options;
  client_options.shard_addresses = {server->address()};
  client_options.token = kToken;
  {
    auto io = kj::setupAsyncIo();
    PsClient chief(io, client_options, plan);
    PsJobConfig config;
    config.mode = "sync";
    config.replicas_to_aggregate = workers;
    config.total_workers = workers;
    config.optimizer = "sgd";
    FLOWPS_RETURN_IF_ERROR(WaitFor(chief.Configure(config), io.waitScope, "configure").status());
    FLOWPS_RETURN_IF_ERROR(WaitFor(chief.CreateVariables({}), io.waitScope, "create").status());
  }
  const Tensor zeros = Tensor::Zeros(DType::kFloat32, shape);
  std::mutex mu;
  Status failed;
  std::vector<double> step_ms;  // worker 0's, guarded by mu
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w]() {
      auto io = kj::setupAsyncIo();
      PsClient client(io, client_options, plan);
      for (int s = 0; s < steps + 1; ++s) {  // the first step warms up
        const Clock::time_point start = Clock::now();
        auto pulled = WaitFor(client.Pull({"w"}), io.waitScope, "pull");
        if (!pulled.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          failed = pulled.status();
          return;
        }
        auto pushed = WaitFor(client.Push(w, pulled->shard_steps, {VariableGradient{"w", zeros, {}, false}}),
                              io.waitScope, "push");
        std::vector<int64_t> next = pulled->shard_steps;
        for (int64_t& step : next) ++step;
        auto waited = pushed.ok() ? WaitFor(client.WaitForStep(next), io.waitScope, "waitForStep")
                                  : StatusOr<std::vector<int64_t>>(pushed.status());
        if (!waited.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          failed = waited.status();
          return;
        }
        if (w == 0 && s > 0) {
          std::lock_guard<std::mutex> lock(mu);
          step_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  FLOWPS_RETURN_IF_ERROR(failed);
  std::sort(step_ms.begin(), step_ms.end());
  return step_ms[step_ms.size() / 2];
}

Status RunNullStep(BenchContext& ctx) {
  for (const auto& [key, value] : ctx.options)
    if (key != "workers" && key != "models" && key != "steps" && key != "mb")
      return InvalidArgument("bench null-step: unknown option '" + key + "' (known: workers, models, steps, mb)");
  FLOWPS_ASSIGN_OR_RETURN(std::vector<int> counts,
                          ParseCounts(ctx.options.count("workers") ? ctx.options.at("workers") : "1,2,3,4"));
  const std::string models = ctx.options.count("models") ? ctx.options.at("models") : "scalar,dense";
  const int steps = ctx.options.count("steps") ? std::atoi(ctx.options.at("steps").c_str()) : 0;
  const int mb = ctx.options.count("mb") ? std::atoi(ctx.options.at("mb").c_str()) : 100;
  if (ctx.options.count("steps") && (steps < 1 || steps > 100000))
    return InvalidArgument("bench null-step: --opt steps must be in 1..100000");
  if (mb < 1 || mb > 1024) return InvalidArgument("bench null-step: --opt mb must be in 1..1024");
  std::stringstream in(models);
  for (std::string model; std::getline(in, model, ',');) {
    if (model != "scalar" && model != "dense")
      return InvalidArgument("bench null-step: --opt models=" + models + " must list scalar and/or dense");
    const bool scalar = model == "scalar";
    const int64_t floats = scalar ? 1 : int64_t{mb} * 1000 * 1000 / 4;
    for (int workers : counts) {
      FLOWPS_ASSIGN_OR_RETURN(double ms, MedianStepMs(ctx, floats, workers, steps > 0 ? steps : (scalar ? 200 : 5)));
      const std::string name = "null_step_" + (scalar ? std::string("scalar") : std::to_string(mb) + "mb_dense") +
                               "_" + std::to_string(workers) + "w_ms";
      // The TensorFlow paper (OSDI 2016, section 6.2), one worker: 1.8 ms scalar, 147 ms 100 MB dense.
      if (workers == 1 && (scalar || mb == 100))
        ctx.emit(Measurement{name, ms, "ms", "tensorflow_paper_1w_ms", scalar ? 1.8 : 147.0});
      else
        ctx.emit(Measurement{name, ms, "ms", std::nullopt, std::nullopt});
      if (ctx.progress) ctx.progress(name + " done");
    }
  }
  return Status::OK();
}

}  // namespace

Benchmark MakeNullStepBenchmark() {
  return Benchmark{"null-step",
                   "TF paper 6.2: sync workers pull every variable and push zero gradients; median step time for a "
                   "scalar and a 100 MB dense model, 1 ps, 1-4 workers",
                   RunNullStep};
}

}  // namespace flowps

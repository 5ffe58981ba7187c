#include "bench/null_step_bench.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <sstream>
#include <thread>

#include "bench/bench_runner.h"
#include "bench/loopback_ps_server.h"
#include "bench/process_counters.h"
#include "bench/tcp_baselines.h"
#include "net/ps_client.h"
#include "net/rpc_common.h"
#include "net/rpc_server.h"

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

struct RunOptions {
  int64_t floats = 1;
  int workers = 1;
  int steps = 200;
  bool push_wait = false;  // the step before pushPull: pull, push, waitForStep
  ps::ParameterServerOptions ps;
};

// One sync step of worker `w`: a pushPull (or pull, push and waitForStep);
// returns each shard's step after it.
StatusOr<std::vector<int64_t>> Step(PsClient& client, kj::WaitScope& ws, const RunOptions& o, int w,
                                    std::vector<int64_t> steps, const Tensor& zeros) {
  std::vector<VariableGradient> grads = {VariableGradient{"w", zeros, {}, false}};
  if (!o.push_wait) {
    FLOWPS_ASSIGN_OR_RETURN(PushPullResult r, WaitFor(client.PushPull(w, steps, grads, PullSpec{{"w"}, {}}), ws, "pushPull"));
    return r.pulled.shard_steps;
  }
  FLOWPS_ASSIGN_OR_RETURN(PulledVariables pulled, WaitFor(client.Pull({"w"}), ws, "pull"));
  FLOWPS_RETURN_IF_ERROR(WaitFor(client.Push(w, pulled.shard_steps, grads), ws, "push").status());
  for (int64_t& s : pulled.shard_steps) ++s;
  return WaitFor(client.WaitForStep(pulled.shard_steps), ws, "waitForStep");
}

struct StepCost {
  double median_ms = 0;
  // What the whole process (ps and workers) spent per sync step, from the
  // workers' connect to their last step: CPU-us and thread switches.
  double cpu_us = 0;
  double switches = 0;
  double io_calls = 0;  // read/write system calls (an eventfd wake-up included)
};

// Median step time (ms) of `o.workers` workers, each in its own thread with
// its own PsClient, doing `o.steps` sync steps with zero gradients. The ps is
// one shard in this process.
StatusOr<StepCost> MeasureSteps(BenchContext& ctx, const RunOptions& o) {
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<RpcServer> server,
                          StartLoopbackPsServer(ctx.pool, kToken, "127.0.0.1:0", 0, 1, o.ps));
  const Shape shape = o.floats == 1 ? Shape{} : Shape{o.floats};
  FLOWPS_ASSIGN_OR_RETURN(PartitionPlan plan, PlanPartitions({{"w", DType::kFloat32, shape}}, 1, 0));
  PsClientOptions client_options;
  client_options.shard_addresses = {server->address()};
  client_options.token = kToken;
  {
    auto io = kj::setupAsyncIo();
    PsClient chief(io, client_options, plan);
    PsJobConfig config;
    config.mode = TrainingMode::kSync;
    config.replicas_to_aggregate = o.workers;
    config.total_workers = o.workers;
    config.optimizer.kind = OptimizerKind::kSgd;
    FLOWPS_RETURN_IF_ERROR(WaitFor(chief.Configure(config), io.waitScope, "configure").status());
    FLOWPS_RETURN_IF_ERROR(WaitFor(chief.CreateVariables({}), io.waitScope, "create").status());
  }
  const Tensor zeros = Tensor::Zeros(DType::kFloat32, shape);
  std::mutex mu;
  Status failed;
  std::vector<double> step_ms;  // worker 0's, guarded by mu
  std::vector<std::thread> threads;
  const ProcessCounters before = ProcessCounters::Now();
  for (int w = 0; w < o.workers; ++w) {
    threads.emplace_back([&, w]() {
      auto io = kj::setupAsyncIo();
      PsClient client(io, client_options, plan);
      StatusOr<PulledVariables> first = WaitFor(client.Pull({"w"}), io.waitScope, "pull");  // as at job start
      StatusOr<std::vector<int64_t>> steps = first.ok() ? StatusOr<std::vector<int64_t>>(first->shard_steps)
                                                        : StatusOr<std::vector<int64_t>>(first.status());
      for (int s = 0; steps.ok() && s < o.steps + 1; ++s) {  // the first step warms up
        const Clock::time_point start = Clock::now();
        steps = Step(client, io.waitScope, o, w, *steps, zeros);
        if (w == 0 && s > 0 && steps.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          step_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        }
      }
      if (!steps.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        failed = steps.status();
      }
    });
  }
  for (auto& t : threads) t.join();
  const ProcessCounters spent = ProcessCounters::Now() - before;
  FLOWPS_RETURN_IF_ERROR(failed);
  std::sort(step_ms.begin(), step_ms.end());
  const double steps = o.steps + 1;
  return StepCost{step_ms[step_ms.size() / 2], spent.cpu_us / steps,
                  static_cast<double>(spent.switches()) / steps, static_cast<double>(spent.io_calls()) / steps};
}

Status RunNullStep(BenchContext& ctx) {
  auto options = ctx.options;
  const std::string workers_text = options.count("workers") ? options.at("workers") : "1,2,3,4";
  const std::string models = options.count("models") ? options.at("models") : "scalar,dense";
  const std::string path = options.count("path") ? options.at("path") : "pushpull";
  options.erase("workers");
  options.erase("models");
  options.erase("path");
  FLOWPS_ASSIGN_OR_RETURN(int64_t steps, TakeIntOption(options, "steps", 0));
  FLOWPS_ASSIGN_OR_RETURN(int64_t mb, TakeIntOption(options, "mb", 100));
  FLOWPS_ASSIGN_OR_RETURN(int64_t floats, TakeIntOption(options, "floats", 0));
  FLOWPS_ASSIGN_OR_RETURN(int64_t inline_below, TakeIntOption(options, "inline_below", -1));
  FLOWPS_RETURN_IF_ERROR(RefuseUnknownOptions(options, "null-step"));
  FLOWPS_ASSIGN_OR_RETURN(std::vector<int> counts, ParseCounts(workers_text));
  if (steps < 0 || steps > 100000) return InvalidArgument("bench null-step: --opt steps must be in 1..100000");
  if (mb < 1 || mb > 1024) return InvalidArgument("bench null-step: --opt mb must be in 1..1024");
  if (floats < 0 || floats > (int64_t{1} << 30)) return InvalidArgument("bench null-step: --opt floats must be in 1..2^30");
  if (path != "pushpull" && path != "push-wait" && path != "both")
    return InvalidArgument("bench null-step: --opt path must be pushpull, push-wait or both");

  if (ctx.progress) ctx.progress("raw TCP ping-pong");
  const ProcessCounters before_ping = ProcessCounters::Now();
  FLOWPS_ASSIGN_OR_RETURN(double pings_per_s, TcpPingPongPerSecond(20000));
  const ProcessCounters ping_spent = ProcessCounters::Now() - before_ping;
  const double ping_ms = 1000.0 / pings_per_s;
  const double ping_cpu_us = ping_spent.cpu_us / 20500;  // with its warm-up
  ctx.emit(Measurement{"tcp_pingpong_round_trip_ms", ping_ms, "ms", std::nullopt, std::nullopt});
  ctx.emit(Measurement{"tcp_pingpong_cpu_us_per_round_trip", ping_cpu_us, "us", std::nullopt, std::nullopt});

  std::vector<std::string> paths;
  if (path != "push-wait") paths.push_back("pushpull");
  if (path != "pushpull") paths.push_back("push-wait");
  std::stringstream in(models);
  for (std::string model; std::getline(in, model, ',');) {
    if (model != "scalar" && model != "dense")
      return InvalidArgument("bench null-step: --opt models=" + models + " must list scalar and/or dense");
    const bool scalar = model == "scalar";
    RunOptions o;
    o.floats = scalar ? 1 : (floats > 0 ? floats : mb * 1000 * 1000 / 4);
    o.steps = static_cast<int>(steps > 0 ? steps : (scalar ? 200 : 5));
    if (inline_below >= 0) o.ps.inline_below_bytes = static_cast<size_t>(inline_below);
    const std::string size = scalar ? std::string("scalar")
                                    : (floats > 0 ? std::to_string(floats) + "floats" : std::to_string(mb) + "mb") +
                                          "_dense";
    for (const std::string& p : paths) {
      o.push_wait = p == "push-wait";
      for (int workers : counts) {
        o.workers = workers;
        FLOWPS_ASSIGN_OR_RETURN(StepCost cost, MeasureSteps(ctx, o));
        const double ms = cost.median_ms;
        const std::string stem = "null_step_" + size + "_" + std::to_string(workers) + "w" + (o.push_wait ? "_pushwait" : "");
        const std::string name = stem + "_ms";
        // The raw ping-pong beside the scalar step (goal: <= 2 round trips);
        // the TensorFlow paper (OSDI 2016, 6.2), one worker: 147 ms for 100 MB dense.
        if (scalar)
          ctx.emit(Measurement{name, ms, "ms", "tcp_pingpong_round_trip_ms", ping_ms});
        else if (workers == 1 && floats == 0 && mb == 100)
          ctx.emit(Measurement{name, ms, "ms", "tensorflow_paper_1w_ms", 147.0});
        else
          ctx.emit(Measurement{name, ms, "ms", std::nullopt, std::nullopt});
        ctx.emit(Measurement{stem + "_cpu_us_per_step", cost.cpu_us, "us", "tcp_pingpong_cpu_us_per_round_trip",
                             ping_cpu_us});
        ctx.emit(Measurement{stem + "_switches_per_step", cost.switches, "switches", std::nullopt, std::nullopt});
        ctx.emit(Measurement{stem + "_io_calls_per_step", cost.io_calls, "syscalls", std::nullopt, std::nullopt});
        if (ctx.progress)
          ctx.progress(name + " done" + (scalar ? " (" + std::to_string(ms / ping_ms) + " raw round trips)" : ""));
      }
    }
  }
  return Status::OK();
}

}  // namespace

Benchmark MakeNullStepBenchmark() {
  return Benchmark{"null-step",
                   "TF paper 6.2: sync workers push zero gradients and read every variable back (one pushPull per "
                   "shard); median step time for a scalar and a 100 MB dense model, 1 ps, 1-4 workers, beside the "
                   "raw TCP ping-pong",
                   RunNullStep};
}

}  // namespace flowps

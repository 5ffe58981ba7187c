#include "bench/train_bench.h"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "bench/local_cluster.h"
#include "bench/process_counters.h"
#include "core/cluster_spec.h"
#include "core/job_spec.h"
#include "core/logging.h"
#include "net/loopback_port.h"
#include "net/rpc_server.h"
#include "bench/loopback_ps_server.h"
#include "worker/job_client.h"
#include "worker/local_trainer.h"
#include "worker/worker_runtime.h"

namespace flowps {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kToken = "train-bench";

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) items.push_back(item);
  return items;
}

// The benchmark's job: the MLP 784-256-10, adam 0.001, batch 64 per worker.
// `train`: the train section's lines after "train:\n  ".
std::string JobYaml(const std::string& mode, int workers, const std::string& data, bool prefetch,
                    const std::string& train, const std::string& hidden = "256") {
  std::string yaml = "name: bench-train\nmodel:\n  type: mlp\n  hidden: [" + hidden + "]\n  seed: 1\n";
  yaml += "data:\n  path: " + data + "\n  batch_size: 64\n  seed: 1\n";
  yaml += "optimizer:\n  type: adam\n  learning_rate: 0.001\n";
  yaml += "mode:\n  type: " + mode + "\n  total_workers: " + std::to_string(workers) + "\n";
  if (mode == "sync") yaml += "  replicas_to_aggregate: " + std::to_string(workers) + "\n";
  if (prefetch) yaml += "  prefetch: true\n";
  return yaml + "train:\n  log_every_steps: 100\n  " + train + "\n";
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

  const std::string yaml =
      JobYaml(mode, workers, data, false, "epochs: 20\n  eval_every_steps: " + std::to_string(mode == "sync" ? 100 : 100 * workers));
  FLOWPS_RETURN_IF_ERROR(runtimes[0]->Submit(yaml, "(bench train job)"));

  RunResult result;
  const Clock::time_point start = Clock::now();
  WorkerJobStatus s;
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    s = runtimes[0]->Snapshot();
    if (s.state == JobState::kFailed) return Internal("bench train: the job failed: " + s.error);
    if (s.test_accuracy >= target && result.seconds_to_target < 0) {
      result.seconds_to_target = s.elapsed_seconds;
      break;
    }
    if (s.state == JobState::kDone || std::chrono::duration<double>(Clock::now() - start).count() > max_seconds) break;
  }
  int64_t examples = 0;
  for (auto& rt : runtimes) examples += rt->Snapshot().examples;
  result.examples_per_sec = s.elapsed_seconds > 0 ? static_cast<double>(examples) / s.elapsed_seconds : 0;
  result.final_accuracy = s.test_accuracy;
  for (auto& rt : runtimes) rt->Stop();
  return result;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

// `flowps train` on the job, in this process: its examples/s (and what it
// spent, loading the data included).
StatusOr<double> TrainInOneProcess(BenchContext& ctx, const std::string& data, const std::string& hidden,
                                   int64_t steps, ProcessCounters* spent) {
  FLOWPS_ASSIGN_OR_RETURN(JobSpec job,
                          ParseJobSpec(JobYaml("async", 1, data, false, "steps: " + std::to_string(steps), hidden),
                                       "(bench train job)"));
  TrainOptions options;
  options.pool = ctx.pool;
  auto log = MakeLogger("train", {std::make_shared<spdlog::sinks::null_sink_mt>()});
  const ProcessCounters before = ProcessCounters::Now();
  FLOWPS_ASSIGN_OR_RETURN(TrainResult r, TrainLocally(job, options, log.get()));
  *spent = ProcessCounters::Now() - before;
  return r.examples_per_sec;
}

// The parameters of the MLP 784-hidden-10 (weights and biases).
int64_t MlpParameters(const std::string& hidden) {
  int64_t n = 0, in = 784;
  for (const std::string& h : SplitList(hidden + ",10")) {
    const int64_t out = std::atoll(h.c_str());
    n += in * out + out;
    in = out;
  }
  return n;
}

// What a worker holds of Fashion-MNIST in memory (float32 images, int32
// labels) while it trains: the streaming shuffle buffer of the data pipeline
// (data.shuffle_buffer, 10000 examples by default), not the data set.
constexpr int64_t kShuffleBufferBytes = 10000 * (784 * 4 + 4);

struct ClusterRun {
  double examples_per_sec = 0;
  // What the cluster's processes (ps and workers) spent over the same window
  // (see LocalCluster::TaskCounters), and the worker steps of 64 examples in it.
  ProcessCounters spent;
  double steps = 0;
  // Bytes: the largest growth of a worker's RSS from idle to its peak in the
  // job, less the shuffle buffer of its input pipeline.
  int64_t worker_rss_growth = 0;
};

// The job submitted to a LocalCluster (flowps launch: processes): the
// examples/s of all its workers between the first status poll where every
// worker has stepped and the last one before the job ended, and their memory.
StatusOr<ClusterRun> TrainOnProcesses(const std::string& mode, int workers, bool prefetch, const std::string& data,
                                      const std::string& hidden, int64_t examples, double max_seconds) {
  LocalClusterOptions o;
  o.workers = workers;
  FLOWPS_ASSIGN_OR_RETURN(auto cluster, LocalCluster::Start(o));
  const int64_t per_step = 64 * (mode == "sync" ? workers : 1);
  const std::string yaml =
      JobYaml(mode, workers, data, prefetch, "steps: " + std::to_string(examples / per_step), hidden);
  const std::vector<int64_t> idle = cluster->WorkerRssBytes();
  std::vector<int64_t> peak = idle;
  const std::string path = cluster->dir() + "/job.yaml";
  std::ofstream(path) << yaml;
  auto io = kj::setupAsyncIo();
  FLOWPS_RETURN_IF_ERROR(SubmitJob(io, cluster->spec(), yaml, path, std::chrono::seconds(10)));
  double t0 = -1, t1 = -1;
  int64_t e0 = 0, e1 = 0;
  ProcessCounters c0, c1;
  const Clock::time_point start = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - start).count() < max_seconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const double now = std::chrono::duration<double>(Clock::now() - start).count();
    int64_t seen = 0;
    bool all_stepping = true;
    for (const WorkerReport& r : QueryWorkers(io, cluster->spec(), std::chrono::seconds(2))) {
      if (!r.status.ok()) return Unavailable("bench train: " + r.task.name() + ": " + r.status.message());
      if (r.job.state == JobState::kFailed) return Internal("bench train: the job failed: " + r.job.error);
      seen += r.job.examples;
      all_stepping = all_stepping && r.job.state == JobState::kRunning && r.job.local_steps > 0;
    }
    if (!all_stepping) {
      if (t0 >= 0) break;  // it ended
      continue;
    }
    const std::vector<int64_t> rss = cluster->WorkerRssBytes();
    for (size_t i = 0; i < rss.size() && i < peak.size(); ++i) peak[i] = std::max(peak[i], rss[i]);
    if (t0 < 0) {
      t0 = now;
      e0 = seen;
      c0 = cluster->TaskCounters();
    } else {
      t1 = now;
      e1 = seen;
      c1 = cluster->TaskCounters();
    }
  }
  if (t1 <= t0) return Internal("bench train: the job ended before two samples; give a larger --opt examples");
  ClusterRun run;
  run.examples_per_sec = static_cast<double>(e1 - e0) / (t1 - t0);
  run.steps = static_cast<double>(e1 - e0) / 64;
  run.spent = c1 - c0;
  for (size_t i = 0; i < idle.size() && i < peak.size(); ++i) {
    run.worker_rss_growth = std::max(run.worker_rss_growth, peak[i] - idle[i] - kShuffleBufferBytes);
  }
  return run;
}

// --opt processes=1: each mode on a real local cluster (1 ps, N workers as
// processes) beside `flowps train` of the same job in this process.
Status RunOnProcesses(BenchContext& ctx, const std::vector<std::string>& modes, const std::vector<int>& counts,
                      bool prefetch, const std::string& data, const std::string& hidden, int64_t examples,
                      double max_seconds) {
  ProcessCounters local_spent;
  const int64_t local_steps = examples / 64;
  FLOWPS_ASSIGN_OR_RETURN(const double local, TrainInOneProcess(ctx, data, hidden, local_steps, &local_spent));
  const double local_cpu_us = local_spent.cpu_us / static_cast<double>(local_steps);
  ctx.emit(Measurement{"train_mlp_one_process_examples_per_sec", local, "examples/s", std::nullopt, std::nullopt});
  ctx.emit(Measurement{"train_mlp_one_process_cpu_us_per_step", local_cpu_us, "us", std::nullopt, std::nullopt});
  ctx.emit(Measurement{"train_mlp_one_process_switches_per_step",
                       static_cast<double>(local_spent.switches()) / static_cast<double>(local_steps), "switches",
                       std::nullopt, std::nullopt});
  for (const std::string& mode : modes)
    for (int workers : counts) {
      FLOWPS_ASSIGN_OR_RETURN(ClusterRun run,
                              TrainOnProcesses(mode, workers, prefetch, data, hidden, examples, max_seconds));
      const double rate = run.examples_per_sec;
      const std::string name = "train_mlp_" + mode + (prefetch && mode == "async" ? "_prefetch" : "") + "_" +
                               std::to_string(workers) + "w_processes";
      ctx.emit(Measurement{name + "_examples_per_sec", rate, "examples/s", "train_mlp_one_process_examples_per_sec",
                           local});
      ctx.emit(Measurement{name + "_vs_one_process", rate / local, "x", std::nullopt, std::nullopt});
      const ProcessCounters& c = run.spent;
      ctx.emit(Measurement{name + "_cpu_us_per_worker_step", c.cpu_us / run.steps,
                           "us (ps and workers, per step of 64 examples)", "train_mlp_one_process_cpu_us_per_step",
                           local_cpu_us});
      ctx.emit(Measurement{name + "_switches_per_worker_step", static_cast<double>(c.switches()) / run.steps,
                           "switches", std::nullopt, std::nullopt});
      ctx.emit(Measurement{name + "_io_calls_per_worker_step", static_cast<double>(c.io_calls()) / run.steps,
                           "syscalls", std::nullopt, std::nullopt});
      ctx.emit(Measurement{name + "_worker_rss_growth_vs_parameters",
                           static_cast<double>(run.worker_rss_growth) /
                               static_cast<double>(MlpParameters(hidden) * static_cast<int64_t>(sizeof(float))),
                           "x (a worker's peak minus idle RSS, less its shuffle buffer, / parameter bytes)", std::nullopt, std::nullopt});
    }
  if (ctx.progress) ctx.progress("load average during the runs: " + LoadAverage());
  return Status::OK();
}

Status RunTrain(BenchContext& ctx) {
  const std::vector<std::string> known = {"workers", "modes", "target", "max_seconds", "data", "devices",
                                          "processes", "examples", "prefetch", "hidden"};
  for (const auto& [key, value] : ctx.options)
    if (std::find(known.begin(), known.end(), key) == known.end())
      return InvalidArgument("bench train: unknown option '" + key +
                             "' (known: workers, modes, target, max_seconds, data, devices, processes, examples, "
                             "prefetch, hidden)");
  auto opt = [&](const std::string& key, const std::string& fallback) {
    return ctx.options.count(key) ? ctx.options.at(key) : fallback;
  };
  const bool processes = opt("processes", "0") == "1";
  const double target = std::atof(opt("target", "0.85").c_str());
  const double max_seconds = std::atof(opt("max_seconds", "300").c_str());
  const int64_t examples = std::atoll(opt("examples", "256000").c_str());
  if (target <= 0 || target >= 1) return InvalidArgument("bench train: --opt target must be in (0, 1), e.g. 0.85");
  if (max_seconds <= 0) return InvalidArgument("bench train: --opt max_seconds must be positive");
  if (examples < 6400) return InvalidArgument("bench train: --opt examples must be at least 6400");
  const std::string data = opt("data", "/usr/share/datasets/fashion-mnist");
  const int devices = std::atoi(opt("devices", "1").c_str());
  if (devices < 1 || devices > 8 || std::to_string(devices) != opt("devices", "1"))
    return InvalidArgument("bench train: --opt devices (CPU towers per worker) must be in 1..8");
  std::vector<std::string> modes = SplitList(opt("modes", "sync,async"));
  for (const std::string& mode : modes)
    if (mode != "sync" && mode != "async") return InvalidArgument("bench train: --opt modes lists sync and/or async");
  std::vector<int> counts;
  for (const std::string& count : SplitList(opt("workers", processes ? "2" : "1,2,4"))) {
    counts.push_back(std::atoi(count.c_str()));
    if (counts.back() < 1 || counts.back() > 16 || std::to_string(counts.back()) != count)
      return InvalidArgument("bench train: --opt workers lists counts in 1..16, e.g. 1,2,4");
  }
  const std::string hidden = opt("hidden", "256");
  if (!processes && hidden != "256") return InvalidArgument("bench train: --opt hidden needs processes=1");
  if (hidden.find_first_not_of("0123456789,") != std::string::npos || MlpParameters(hidden) <= 0)
    return InvalidArgument("bench train: --opt hidden lists the hidden layer widths, e.g. 256 or 1024,1024");
  if (processes)
    return RunOnProcesses(ctx, modes, counts, opt("prefetch", "0") == "1", data, hidden, examples, max_seconds);
  for (const std::string& mode : modes)
    for (int workers : counts) {
      FLOWPS_ASSIGN_OR_RETURN(RunResult r, TrainOnce(ctx, mode, workers, devices, target, max_seconds, data));
      const std::string name = "train_mlp_" + mode + "_" + std::to_string(workers) + "w" +
                               (devices > 1 ? "_" + std::to_string(devices) + "dev" : "");
      ctx.emit(Measurement{name + "_examples_per_sec", r.examples_per_sec, "examples/s", std::nullopt, std::nullopt});
      ctx.emit(Measurement{name + "_seconds_to_" + std::to_string(static_cast<int>(target * 100 + 0.5)) + "pct",
                           r.seconds_to_target, "s (-1: not reached)", std::nullopt, std::nullopt});
      if (ctx.progress)
        ctx.progress(name + ": final test accuracy " + std::to_string(r.final_accuracy));
    }
  return Status::OK();
}

}  // namespace

Benchmark MakeTrainBenchmark() {
  return Benchmark{"train",
                   "the MLP on Fashion-MNIST, 1 ps and 1, 2, 4 workers, sync and async: examples/s and seconds to 85% "
                   "test accuracy; --opt processes=1: on a local cluster of processes beside flowps train",
                   RunTrain};
}

}  // namespace flowps

#include "cli/task_daemon.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/logger.h>

#include <iostream>
#include <mutex>
#include <string>

#include "core/thread_pool.h"
#include "net/trace_service.h"

namespace flowps {
namespace {

// Connections cost descriptors: take the hard limit rather than the soft one
// (often 1,024).
void RaiseDescriptorLimit(spdlog::logger& logger) {
  struct rlimit limit = {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) logger.warn("cannot raise the descriptor limit from {}", before);
}

}  // namespace

int RunTaskDaemon(const std::string& job, int argc, char** argv, const RegisterServices& register_services) {
  CLI::App app{"flowps-" + job + ": one " + job + " task of a flowps cluster"};
  std::string cluster_path;
  int task_index = -1;
  std::string log_level = "info";
  int threads = 0;
  app.add_option("--cluster", cluster_path, "cluster spec (YAML)")->required();
  app.add_option("--task", task_index, "index of this task in the " + job + " job")->required();
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error");
  app.add_option("--threads", threads, "compute threads (0: one per core)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  const std::string program = "flowps-" + job;
  if (!IsLogLevel(log_level)) {
    std::cerr << program << ": --log-level '" << log_level << "' must be trace, debug, info, warn or error\n";
    return 2;
  }
  auto spec = LoadClusterSpec(cluster_path);
  if (!spec.ok()) {
    std::cerr << program << ": " << spec.status().message() << "\n";
    return 2;
  }
  auto task = spec->Task(job, task_index);
  if (!task.ok()) {
    std::cerr << program << ": " << task.status().message() << "\n";
    return 2;
  }

  // Block the stop signals in every thread; main waits for them below.
  // SIGUSR1 is the server telling main that it stopped serving.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  LogHub hub(task->name());
  LogSinks sinks = {NewConsoleSink(task->name()), hub.sink()};
  auto logger = MakeLogger("net", sinks, log_level);
  auto pool = NewAsioThreadPool(threads);

  ServiceFactories services;
  std::vector<MetricsSource> metrics;
  TraceRecorder trace(SpanIdBase(TraceSlot(*spec, *task)));  // outlives the server
  services["trace"] = [&trace](ServiceEnv&) { return NewTraceService(&trace); };
  DaemonContext context{*spec, *task, *pool, sinks, log_level, metrics, trace};
  Status registered = register_services(context, services);
  if (!registered.ok()) {
    logger->error("cannot start the services of {}: {}", task->name(), registered.ToString());
    return 1;
  }
  std::unique_ptr<MetricsEndpoint> metrics_endpoint;
  if (task->metrics_port != 0) {
    auto endpoint = MetricsEndpoint::Start(task->host, task->metrics_port, std::move(metrics));
    if (!endpoint.ok()) {
      logger->error("{}", endpoint.status().message());
      return 1;
    }
    metrics_endpoint = std::move(endpoint).value();
    logger->info("serving metrics at http://{}:{}/metrics", task->host, task->metrics_port);
  }

  RpcServerOptions options;
  options.bind_address = task->address();
  options.token = spec->token;
  options.tls = spec->tls;
  options.task_name = task->name();
  options.devices = task->DeviceNames();
  options.logs = &hub;
  options.pool = pool.get();
  options.logger = logger;
  std::mutex stopped_mutex;
  std::string stopped_why;
  options.on_stopped = [&](const Status& why) {
    {
      std::lock_guard<std::mutex> lock(stopped_mutex);
      stopped_why = why.message();
    }
    ::kill(::getpid(), SIGUSR1);
  };
  RaiseDescriptorLimit(*logger);
  logger->info("starting {} of {} (pid {}, {} compute threads)", task->name(), cluster_path, getpid(),
               pool->num_threads());
  auto server = RpcServer::Start(options, std::move(services));
  if (!server.ok()) {
    logger->error("{}", server.status().message());
    return 1;
  }

  int signal = 0;
  std::string failed;
  while (true) {
    sigwait(&stop_signals, &signal);
    if (signal != SIGUSR1) break;
    std::lock_guard<std::mutex> lock(stopped_mutex);
    if (!stopped_why.empty()) {
      failed = stopped_why;
      break;
    }
  }
  if (!failed.empty()) {
    // Serving nothing while alive would hide the failure from the supervisor.
    logger->error("{}; exiting with status 1 so that a supervisor restarts the task", failed);
    logger->flush();
    server->reset();
    return 1;
  }
  logger->info("stopping on {}", signal == SIGINT ? "SIGINT" : "SIGTERM");
  server->reset();
  logger->info("stopped");
  logger->flush();
  return 0;
}

}  // namespace flowps

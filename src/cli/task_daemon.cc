#include "cli/task_daemon.h"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/logger.h>

#include <iostream>

#include "core/thread_pool.h"

namespace flowps {

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
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  LogHub hub(task->name());
  LogSinks sinks = {NewConsoleSink(task->name()), hub.sink()};
  auto logger = MakeLogger("net", sinks, log_level);
  auto pool = NewAsioThreadPool(threads);

  ServiceFactories services;
  DaemonContext context{*spec, *task, *pool, sinks, log_level};
  Status registered = register_services(context, services);
  if (!registered.ok()) {
    logger->error("cannot start the services of {}: {}", task->name(), registered.ToString());
    return 1;
  }

  RpcServerOptions options;
  options.bind_address = task->address();
  options.token = spec->token;
  options.task_name = task->name();
  options.devices = task->DeviceNames();
  options.logs = &hub;
  options.pool = pool.get();
  options.logger = logger;
  logger->info("starting {} of {} (pid {}, {} compute threads)", task->name(), cluster_path, getpid(),
               pool->num_threads());
  auto server = RpcServer::Start(options, std::move(services));
  if (!server.ok()) {
    logger->error("{}", server.status().message());
    return 1;
  }

  int signal = 0;
  sigwait(&stop_signals, &signal);
  logger->info("stopping on {}", signal == SIGINT ? "SIGINT" : "SIGTERM");
  server->reset();
  logger->info("stopped");
  logger->flush();
  return 0;
}

}  // namespace flowps

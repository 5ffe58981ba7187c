// TaskDaemon: what flowps-ps and flowps-worker share. It reads
// `--cluster <spec> --task N [--log-level L]`, makes the log sinks (console +
// the log hub served over RPC), the compute pool and the RPC server of the
// task, lets the program's main register its services by name, serves until
// SIGINT or SIGTERM, then stops cleanly. When the spec gives the task a
// metrics_port, it serves the sources main added to `metrics` at
// http://<task host>:<metrics_port>/metrics (cli/metrics_endpoint.h). Every
// task serves its TraceRecorder as the "trace" service (net/trace_service.h).
//
// Exit codes: 0 after a clean stop, 2 for bad flags or a bad spec, 1 when the
// task cannot serve (e.g. its port is taken) or a service fails to start.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/cluster_spec.h"
#include "core/logging.h"
#include "core/status.h"
#include "core/trace.h"
#include "cli/metrics_endpoint.h"
#include "net/rpc_server.h"

namespace flowps {

// What a program's main gets to build its services from. The references live
// until the daemon has stopped serving.
struct DaemonContext {
  const ClusterSpec& spec;
  const TaskSpec& task;
  ThreadPool& pool;
  const LogSinks& sinks;         // make component loggers with MakeLogger(name, sinks, log_level)
  const std::string& log_level;
  std::vector<MetricsSource>& metrics;  // what the task's /metrics serves (main adds to it)
  // The task's spans for `flowps submit --trace` (core/trace.h), served as
  // the "trace" service; main hands it to the services that record.
  TraceRecorder& trace;
};

// Adds the task's services to `services` (e.g. services["ps"] = ...). Objects
// the factories use can be owned by the factory lambdas (shared_ptr).
using RegisterServices = std::function<Status(DaemonContext& context, ServiceFactories& services)>;

// Runs one task of `job` ("ps" or "worker") until it is told to stop.
int RunTaskDaemon(const std::string& job, int argc, char** argv, const RegisterServices& register_services);

}  // namespace flowps

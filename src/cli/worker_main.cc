// flowps-worker: one worker task.
//   flowps-worker --cluster configs/local.yaml --task 0
#include "cli/dashboard_server.h"
#include "cli/metric_families.h"
#include "cli/task_daemon.h"
#include "core/memory_tuning.h"
#include "worker/worker_metrics.h"
#include "worker/worker_runtime.h"

int main(int argc, char** argv) {
  flowps::KeepFreedBuffersOffTheHeap();  // before any other thread runs (core/memory_tuning.h)
  return flowps::RunTaskDaemon("worker", argc, argv, [](flowps::DaemonContext& context, flowps::ServiceFactories& services) {
    auto metrics = std::make_shared<flowps::WorkerMetrics>();
    auto runtime = std::make_shared<flowps::WorkerRuntime>(context.spec, context.task.index, &context.pool,
                                                           flowps::MakeLogger("worker", context.sinks, context.log_level),
                                                           metrics, &context.trace);
    context.metrics.push_back(
        [metrics, task = context.task]() { return flowps::WorkerMetricFamilies(task, metrics->Read()); });
    // The chief's dashboard (the spec allows dashboard_port on the chief only).
    std::shared_ptr<flowps::DashboardServer> dashboard;
    if (context.task.dashboard_port != 0) {
      auto started = flowps::DashboardServer::Start(context.spec, context.task.host, context.task.dashboard_port);
      if (!started.ok()) return started.status();
      dashboard = std::move(started).value();
    }
    services["worker"] = [runtime, dashboard](flowps::ServiceEnv& env) {
      return flowps::NewWorkerControl(env, runtime);
    };
    return flowps::Status::OK();
  });
}

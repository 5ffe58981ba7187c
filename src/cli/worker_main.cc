// flowps-worker: one worker task.
//   flowps-worker --cluster configs/local.yaml --task 0
#include "cli/task_daemon.h"
#include "worker/worker_runtime.h"

int main(int argc, char** argv) {
  return flowps::RunTaskDaemon("worker", argc, argv, [](flowps::DaemonContext& context, flowps::ServiceFactories& services) {
    auto runtime = std::make_shared<flowps::WorkerRuntime>(context.spec, context.task.index, &context.pool,
                                                           flowps::MakeLogger("worker", context.sinks, context.log_level));
    services["worker"] = [runtime](flowps::ServiceEnv& env) { return flowps::NewWorkerControl(env, runtime); };
    return flowps::Status::OK();
  });
}

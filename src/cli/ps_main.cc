// flowps-ps: one parameter-server task.
//   flowps-ps --cluster configs/local.yaml --task 0
// It serves the "ps" service (ps/parameter_server_impl.h): shard `task` of
// the spec's ps tasks. The chief configures it at the start of a job
// (sync/async, optimizer, checkpoint dir), which also restores the newest
// complete checkpoint.
#include "cli/task_daemon.h"
#include "ps/memory_tuning.h"
#include "ps/parameter_server_impl.h"

int main(int argc, char** argv) {
  flowps::ps::KeepLargeBuffersResident();
  return flowps::RunTaskDaemon("ps", argc, argv, [](flowps::DaemonContext& context, flowps::ServiceFactories& services) {
    const int shard = context.task.index;
    const int num_shards = static_cast<int>(context.spec.ps.size());
    auto log = flowps::MakeLogger("ps", context.sinks, context.log_level);
    services["ps"] = [shard, num_shards, log](flowps::ServiceEnv& env) {
      return flowps::ps::NewParameterServer(env, shard, num_shards, log);
    };
    return flowps::Status::OK();
  });
}

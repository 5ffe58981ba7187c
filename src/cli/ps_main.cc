// flowps-ps: one parameter-server task.
//   flowps-ps --cluster configs/local.yaml --task 0
#include "cli/task_daemon.h"
#include "ps/parameter_server_impl.h"

int main(int argc, char** argv) {
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

// flowps-ps: one parameter-server task.
//   flowps-ps --cluster configs/local.yaml --task 0
// It serves the "ps" service (ps/parameter_server_impl.h): shard `task` of
// the spec's ps tasks. The chief configures it at the start of a job
// (sync/async, optimizer, checkpoint dir), which also restores the newest
// complete checkpoint. Tests only: FLOWPS_TEST_PAUSE_BEFORE_RENAME_MS=<ms>
// widens the window between writing a checkpoint file and renaming it.
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "cli/metric_families.h"
#include "cli/task_daemon.h"
#include "core/memory_tuning.h"
#include "ps/parameter_server_impl.h"
#include "ps/shard_monitor.h"

int main(int argc, char** argv) {
  flowps::KeepLargeBuffersResident();
  return flowps::RunTaskDaemon("ps", argc, argv, [](flowps::DaemonContext& context, flowps::ServiceFactories& services) {
    const int shard = context.task.index;
    const int num_shards = static_cast<int>(context.spec.ps.size());
    auto log = flowps::MakeLogger("ps", context.sinks, context.log_level);
    flowps::ps::ParameterServerOptions options;
    options.monitor = std::make_shared<flowps::ps::ShardMonitor>();
    options.trace = &context.trace;
    context.metrics.push_back([monitor = options.monitor, task = context.task]() {
      return flowps::ShardMetricFamilies(task, monitor->Read());
    });
    if (const char* pause = std::getenv("FLOWPS_TEST_PAUSE_BEFORE_RENAME_MS")) {
      options.test_pause_before_rename_ms = std::atoi(pause);
      log->warn("FLOWPS_TEST_PAUSE_BEFORE_RENAME_MS={}: checkpoint writes pause before their rename (tests only)",
                options.test_pause_before_rename_ms);
    }
    services["ps"] = [shard, num_shards, log, options](flowps::ServiceEnv& env) {
      return flowps::ps::NewParameterServer(env, shard, num_shards, log, options);
    };
    return flowps::Status::OK();
  });
}

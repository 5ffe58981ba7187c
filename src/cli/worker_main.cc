// flowps-worker: one worker task.
//   flowps-worker --cluster configs/local.yaml --task 0
#include "cli/task_daemon.h"

int main(int argc, char** argv) {
  return flowps::RunTaskDaemon("worker", argc, argv, [](flowps::DaemonContext&, flowps::ServiceFactories&) {
    // The worker control service (src/worker) registers here, by name, as services["worker"].
    return flowps::Status::OK();
  });
}

// flowps-ps: one parameter-server task.
//   flowps-ps --cluster configs/local.yaml --task 0
#include "cli/task_daemon.h"

int main(int argc, char** argv) {
  return flowps::RunTaskDaemon("ps", argc, argv, [](flowps::DaemonContext&, flowps::ServiceFactories&) {
    // The parameter-server service (src/ps) registers here, by name, as services["ps"].
    return flowps::Status::OK();
  });
}

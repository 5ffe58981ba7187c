// `flowps launch <cluster.yaml> [--log-level L] [--wait-s N] [--bin-dir D]`:
// starts every task of the spec whose host is this machine (flowps-ps and
// flowps-worker with --cluster/--task), waits until each answers its health
// call and reports them, then runs until Ctrl-C or SIGTERM, which it forwards
// to every task. It reaps every child: when it returns, no task it started is
// left. If a task exits on its own, the others are stopped too.
// Exit code 0 after a requested stop, 1 when a task failed or did not become
// healthy within --wait-s, 2 for a bad spec.
#pragma once

namespace CLI {
class App;
}  // namespace CLI

namespace flowps {

void AddLaunchCommand(CLI::App& app, int* exit_code);

}  // namespace flowps

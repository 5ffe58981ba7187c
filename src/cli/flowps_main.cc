// flowps: the user's command.
//   flowps launch <cluster.yaml>             start the local tasks of a cluster
//   flowps status --cluster <spec> [--json]  health of every task
//   flowps logs --cluster <spec> [-f]        merged log stream
//   flowps bench <name> [--json] [--opt k=v]... [--list]
#include <CLI/CLI.hpp>

#include <vector>

#include "bench/rpc_latency_bench.h"
#include "cli/bench_command.h"
#include "cli/launch_command.h"
#include "cli/logs_command.h"
#include "cli/status_command.h"
#include "ps/ps_benchmarks.h"

int main(int argc, char** argv) {
  // Every benchmark of `flowps bench`, in one place.
  const std::vector<flowps::Benchmark> benchmarks = {
      flowps::RpcLatencyBenchmark(),
      flowps::ps::MakePsApplyBenchmark(),
  };

  CLI::App app{"flowps: parameter-server training over Cap'n Proto RPC"};
  app.require_subcommand(1);
  int exit_code = 0;
  flowps::AddLaunchCommand(app, &exit_code);
  flowps::AddStatusCommand(app, &exit_code);
  flowps::AddLogsCommand(app, &exit_code);
  flowps::AddBenchCommand(app, &benchmarks, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return exit_code;
}

// flowps: the user's command.
//   flowps launch <cluster.yaml>             start the local tasks of a cluster
//   flowps status --cluster <spec> [--json]  health of every task, and the job
//   flowps top --cluster <spec>              live view of the tasks and the job (q quits)
//   flowps health --address h:p --token-file F   health of one task (probe)
//   flowps submit <job.yaml> --cluster <spec> [--wait]  run a job on the cluster
//   flowps stop --cluster <spec>             stop the running job (final checkpoint)
//   flowps logs --cluster <spec> [-f]        merged log stream
//   flowps train <job.yaml> [--max-steps N]  run a job in one process
//   flowps bench <name> [--json] [--opt k=v]... [--list]
//   flowps data convert | synth-ctr ...        input file tools
#include <CLI/CLI.hpp>

#include <vector>

#include "bench/input_bench.h"
#include "bench/matmul_bench.h"
#include "bench/model_parallel_bench.h"
#include "bench/null_step_bench.h"
#include "bench/rpc_latency_bench.h"
#include "bench/sparse_bench.h"
#include "bench/step_bench.h"
#include "bench/train_bench.h"
#include "cli/bench_command.h"
#include "cli/data_command.h"
#include "cli/health_command.h"
#include "cli/launch_command.h"
#include "cli/logs_command.h"
#include "cli/status_command.h"
#include "cli/stop_command.h"
#include "cli/submit_command.h"
#include "cli/top_command.h"
#include "cli/train_command.h"
#include "core/thread_pool.h"
#include "bench/ps_benchmarks.h"

int main(int argc, char** argv) {
  // Every benchmark of `flowps bench`, in one place.
  const std::vector<flowps::Benchmark> benchmarks = {
      flowps::MakeRpcLatencyBenchmark(),
      flowps::MakeMatmulBenchmark(),
      flowps::MakeStepBenchmark(),
      flowps::MakePsApplyBenchmark(),
      flowps::MakePushPullBenchmark(),
      flowps::MakePsMemoryBenchmark(),
      flowps::MakeNullStepBenchmark(),
      flowps::MakeTrainBenchmark(),
      flowps::MakeInputBenchmark(),
      flowps::MakeSparseBenchmark(),
      flowps::MakeModelParallelBenchmark(),
  };

  // The process's compute pool, for the benchmarks (`train` makes its own when it runs).
  auto pool = flowps::NewAsioThreadPool();

  CLI::App app{"flowps: parameter-server training over Cap'n Proto RPC"};
  app.require_subcommand(1);
  int exit_code = 0;
  flowps::AddLaunchCommand(app, &exit_code);
  flowps::AddStatusCommand(app, &exit_code);
  flowps::AddTopCommand(app, &exit_code);
  flowps::AddHealthCommand(app, &exit_code);
  flowps::AddLogsCommand(app, &exit_code);
  flowps::AddSubmitCommand(app, &exit_code);
  flowps::AddStopCommand(app, &exit_code);
  flowps::AddTrainCommand(app, &exit_code);
  flowps::AddDataCommand(app, &exit_code);
  flowps::AddBenchCommand(app, &benchmarks, pool.get(), &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a subcommand failed and said why
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return exit_code;
}

// flowps: the user's command.
//   flowps launch <cluster.yaml>             start the local tasks of a cluster
//   flowps status --cluster <spec> [--json]  health of every task, and the job
//   flowps submit <job.yaml> --cluster <spec> [--wait]  run a job on the cluster
//   flowps logs --cluster <spec> [-f]        merged log stream
//   flowps bench <name> [--json] [--opt k=v]... [--list]
//   flowps train <job.yaml>                  run a job in one process
#include <CLI/CLI.hpp>

#include <vector>

#include "bench/matmul_bench.h"
#include "bench/null_step_bench.h"
#include "bench/rpc_latency_bench.h"
#include "bench/step_bench.h"
#include "bench/train_bench.h"
#include "cli/bench_command.h"
#include "cli/launch_command.h"
#include "cli/logs_command.h"
#include "cli/status_command.h"
#include "cli/submit_command.h"
#include "cli/train_command.h"
#include "core/logging.h"
#include "core/thread_pool.h"
#include "ps/ps_benchmarks.h"

int main(int argc, char** argv) {
  // Every benchmark of `flowps bench`, in one place.
  const std::vector<flowps::Benchmark> benchmarks = {
      flowps::RpcLatencyBenchmark(),
      flowps::MakeMatmulBenchmark(),
      flowps::MakeStepBenchmark(),
      flowps::ps::MakePsApplyBenchmark(),
      flowps::MakeNullStepBenchmark(),
      flowps::MakeTrainBenchmark(),
  };

  CLI::App app{"flowps: parameter-server training over Cap'n Proto RPC"};
  app.require_subcommand(1);
  int exit_code = 0;
  flowps::AddLaunchCommand(app, &exit_code);
  flowps::AddStatusCommand(app, &exit_code);
  flowps::AddLogsCommand(app, &exit_code);
  flowps::AddSubmitCommand(app, &exit_code);
  flowps::AddBenchCommand(app, &benchmarks, &exit_code);
  // The compute pool of `flowps train` (one thread per core), created only when used.
  std::unique_ptr<flowps::ThreadPool> train_pool;
  flowps::TrainCommandContext train_context;
  train_context.sinks = {flowps::NewConsoleSink("local")};
  train_context.make_pool = [&train_pool] {
    train_pool = flowps::NewAsioThreadPool();
    return train_pool.get();
  };
  flowps::AddTrainCommand(app, train_context);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return exit_code;
}

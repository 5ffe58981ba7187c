#include "cli/train_command.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "core/job_spec.h"
#include "core/logging.h"
#include "core/thread_pool.h"
#include "worker/local_trainer.h"

namespace flowps {
namespace {

struct TrainArgs {
  std::string job_file;
  int64_t max_steps = 0;
  std::string log_level = "info";
};

int RunTrain(const TrainArgs& args) {
  auto job = LoadJobSpec(args.job_file);
  if (!job.ok()) {
    std::cerr << "flowps train: " << job.status().message() << "\n";
    return 2;
  }
  auto logger = MakeLogger("worker", {NewConsoleSink("/job:local/task:0")}, args.log_level);
  auto pool = NewAsioThreadPool();
  TrainOptions options;
  options.pool = pool.get();
  options.max_steps = args.max_steps;
  auto result = TrainLocally(*job, options, logger.get());
  if (!result.ok()) {
    std::cerr << "flowps train: " << result.status().message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

void AddTrainCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "run a job in one process (debug a model before distributing it)");
  cmd->add_option("job", args->job_file, "the job spec, e.g. configs/jobs/mlp.yaml")->required();
  cmd->add_option("--max-steps", args->max_steps, "stop after this many steps (0: as the job says)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--log-level", args->log_level, "trace, debug, info, warn or error")
      ->check([](const std::string& l) { return IsLogLevel(l) ? std::string() : "unknown log level '" + l + "'"; });
  cmd->callback([args, exit_code] { *exit_code = RunTrain(*args); });
}

}  // namespace flowps

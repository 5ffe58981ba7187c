#include "cli/train_command.h"

#include <spdlog/logger.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "core/job_spec.h"
#include "worker/local_trainer.h"

namespace flowps {

void AddTrainCommand(CLI::App& app, TrainCommandContext context) {
  CLI::App* cmd = app.add_subcommand("train", "Run a job in one process (debug a model before distributing it)");
  struct Args {
    std::string job_file;
    int64_t max_steps = 0;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("job", args->job_file, "The job spec (YAML), e.g. configs/jobs/mlp.yaml")->required();
  cmd->add_option("--max-steps", args->max_steps, "Stop after this many steps (0: as the job says)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([args, context] {
    auto job = LoadJobSpec(args->job_file);
    if (!job.ok()) {
      std::cerr << "flowps train: " << job.status().message() << "\n";
      throw CLI::RuntimeError(1);
    }
    spdlog::logger logger("worker", context.sinks.begin(), context.sinks.end());
    TrainOptions options;
    options.pool = context.pool;
    options.max_steps = args->max_steps;
    auto result = TrainLocally(*job, options, &logger);
    if (!result.ok()) {
      std::cerr << "flowps train: " << result.status().message() << "\n";
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace flowps

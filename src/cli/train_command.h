// `flowps train <job.yaml> [--max-steps N]`: runs a job in one process
// (see worker/local_trainer.h). main() owns the compute pool and the log
// sinks and passes them here; CLI11 stays out of this header.
#pragma once

#include <memory>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI
namespace spdlog::sinks {
class sink;
}  // namespace spdlog::sinks

namespace flowps {

class ThreadPool;

struct TrainCommandContext {
  ThreadPool* pool = nullptr;                                 // owned by main
  std::vector<std::shared_ptr<spdlog::sinks::sink>> sinks;    // where the "worker" logger writes
};

// Adds the `train` subcommand. On failure it prints the error (file, line
// and key for a bad job file) and exits with status 1 (CLI::RuntimeError).
// REQUIRES: context.pool outlives app's parsing.
void AddTrainCommand(CLI::App& app, TrainCommandContext context);

}  // namespace flowps

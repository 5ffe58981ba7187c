#include "cli/stop_command.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "worker/job_client.h"

namespace flowps {
namespace {

struct StopOptions {
  std::string cluster;
  int timeout_ms = 180000;  // the chief's stop includes stopping the workers and the final checkpoint
};

int RunStop(const StopOptions& o) {
  auto spec = LoadClusterSpec(o.cluster);
  if (!spec.ok()) {
    std::cerr << "flowps stop: " << spec.status().message() << "\n";
    return 2;
  }
  auto io = kj::setupAsyncIo();
  const auto timeout = std::chrono::milliseconds(o.timeout_ms);
  const WorkerReport before = QueryWorkers(io, *spec, timeout)[static_cast<size_t>(spec->chief)];
  Status stopped = StopJob(io, *spec, timeout);
  if (!stopped.ok()) {
    std::cerr << "flowps stop: the chief " << spec->chief_task().name() << " did not stop the job: "
              << stopped.message() << "\n";
    return 1;
  }
  const WorkerReport after = QueryWorkers(io, *spec, timeout)[static_cast<size_t>(spec->chief)];
  if (!after.status.ok()) {
    std::cerr << "flowps stop: the chief stopped, then did not answer: " << after.status.message() << "\n";
    return 1;
  }
  const WorkerJobStatus& j = after.job;
  if (before.status.ok() && !IsActive(before.job.state)) {
    std::cout << "flowps stop: no job was running (the chief's job '" << j.job << "' is " << JobStateName(j.state)
              << ")\n";
    return 0;
  }
  std::cout << "flowps stop: job '" << j.job << "' " << JobStateName(j.state) << " at global step " << j.global_step
            << (j.error.empty() ? "" : ": " + j.error) << "\n";
  return j.error.empty() ? 0 : 1;
}

}  // namespace

void AddStopCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<StopOptions>();
  CLI::App* cmd = app.add_subcommand("stop", "stop the cluster's running job (final checkpoint if configured)");
  cmd->add_option("--cluster", o->cluster, "cluster spec (YAML)")->required();
  cmd->add_option("--timeout-ms", o->timeout_ms, "deadline for each call (the chief's stop includes the checkpoint)")
      ->check(CLI::PositiveNumber);
  cmd->callback([o, exit_code]() { *exit_code = RunStop(*o); });
}

}  // namespace flowps

#include "cli/submit_command.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "worker/job_client.h"
#include "worker/models.h"
#include "core/job_spec.h"
#include "worker/training_progress.h"

namespace flowps {
namespace {

struct SubmitOptions {
  std::string job;
  std::string cluster;
  bool wait = false;
  int timeout_ms = 5000;
  double poll_s = 1.0;
  int trace_steps = 0;
};

void Say(const std::string& line) { std::cout << "flowps submit: " << line << std::endl; }

// Polls the chief while its job is starting (bounded by the cluster's
// setup_timeout_s and a margin for loading the data); its status after.
StatusOr<WorkerJobStatus> WaitWhileStarting(kj::AsyncIoContext& io, const ClusterSpec& spec,
                                            std::chrono::milliseconds timeout) {
  const auto limit = std::chrono::duration<double>(spec.setup_timeout_s + 300);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::milliseconds>(limit);
  int unreachable = 0;
  while (true) {
    const WorkerReport chief = QueryWorkers(io, spec, timeout)[static_cast<size_t>(spec.chief)];
    if (chief.status.ok() && chief.job.state != JobState::kStarting) return chief.job;
    if (!chief.status.ok() && ++unreachable >= 10)
      return Unavailable("lost the chief while the job started: " + chief.status.ToString());
    if (std::chrono::steady_clock::now() > deadline)
      return DeadlineExceeded("the job was still starting after " + std::to_string(static_cast<int>(limit.count())) +
                              " s");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int RunSubmit(const SubmitOptions& o) {
  auto spec = LoadClusterSpec(o.cluster);
  if (!spec.ok()) {
    std::cerr << "flowps submit: " << spec.status().message() << "\n";
    return 2;
  }
  auto job = LoadJobSpec(o.job);
  if (!job.ok()) {
    std::cerr << "flowps submit: " << job.status().message() << "\n";
    return 2;
  }
  std::string graph_def;  // a graph job's model travels with it: no worker reads the file
  if (job->model.kind == ModelKind::kGraphFile) {
    auto bytes = ReadModelGraphFile(job->model.graph_file);
    if (!bytes.ok()) {
      std::cerr << "flowps submit: " << o.job << ": model.graph_file: " << bytes.status().message() << "\n";
      return 2;
    }
    graph_def = std::move(bytes).value();
  }
  std::ifstream in(o.job);
  std::stringstream text;
  text << in.rdbuf();
  auto io = kj::setupAsyncIo();
  const auto timeout = std::chrono::milliseconds(o.timeout_ms);
  Status submitted = SubmitJob(io, *spec, text.str(), o.job, timeout, graph_def, o.trace_steps);
  if (!submitted.ok()) {
    std::cerr << "flowps submit: the chief " << spec->chief_task().name() << " refused the job: "
              << submitted.message() << "\n";
    return 1;
  }
  // The chief loads the data, builds the model and configures the ps shards
  // before the job runs: it is accepted only once they took it.
  StatusOr<WorkerJobStatus> started = WaitWhileStarting(io, *spec, timeout);
  if (!started.ok()) {
    std::cerr << "flowps submit: " << started.status().message() << "\n";
    return 1;
  }
  if (started->state != JobState::kRunning && started->state != JobState::kDone) {
    std::cerr << "flowps submit: job '" << started->job << "' " << JobStateName(started->state)
              << (started->error.empty() ? "" : ": " + started->error) << "\n";
    return 1;
  }
  Say("job '" + job->name + "' accepted by the chief " + spec->chief_task().name());
  if (!o.wait) return 0;

  int64_t last_step = -1;
  double last_accuracy = -1;
  int unreachable = 0;
  while (true) {
    std::this_thread::sleep_for(std::chrono::duration<double>(o.poll_s));
    auto reports = QueryWorkers(io, *spec, timeout);
    const WorkerReport& chief = reports[static_cast<size_t>(spec->chief)];
    if (!chief.status.ok()) {
      if (++unreachable >= 10) {
        std::cerr << "flowps submit: lost the chief: " << chief.status.ToString() << "\n";
        return 1;
      }
      continue;
    }
    unreachable = 0;
    const WorkerJobStatus& j = chief.job;
    if (j.state == JobState::kDone) {
      Say(fmt::format("done: final {}, time {}, {:.0f} examples/s; metrics: {}; plot: {}{}", FormatTestResult(j),
                      FormatDuration(j.elapsed_seconds), j.job_examples_per_sec,
                      j.metrics_path.empty() ? "-" : j.metrics_path, j.plot_path.empty() ? "-" : j.plot_path,
                      j.trace_path.empty() ? "" : "; trace: " + j.trace_path));
      if (!j.sample.empty()) Say("sample of the trained model:\n" + j.sample);
      return 0;
    }
    if (j.state == JobState::kFailed || j.state == JobState::kStopped || j.state == JobState::kIdle) {
      std::cerr << "flowps submit: job '" << j.job << "' " << JobStateName(j.state) << (j.error.empty() ? "" : ": " + j.error)
                << "\n";
      return 1;
    }
    if (j.global_step == last_step && j.test_accuracy == last_accuracy) continue;
    last_step = j.global_step;
    last_accuracy = j.test_accuracy;
    const double done = j.total_steps > 0 ? static_cast<double>(j.global_step) / static_cast<double>(j.total_steps) : 0;
    std::string eta = "-";
    if (done > 0.01 && j.elapsed_seconds > 0) eta = FormatDuration(j.elapsed_seconds * (1 - done) / done);
    Say(fmt::format("step {}/{} ({:.1f}%)  loss {:.4f}  test accuracy {}  {:.0f} examples/s  elapsed {}  ETA {}",
                    j.global_step, j.total_steps, 100.0 * done, j.loss,
                    j.test_accuracy < 0 ? std::string("-") : fmt::format("{:.2f}%", 100.0 * j.test_accuracy),
                    j.job_examples_per_sec, FormatDuration(j.elapsed_seconds), eta));
  }
}

}  // namespace

void AddSubmitCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<SubmitOptions>();
  CLI::App* cmd = app.add_subcommand("submit", "hand a job to the cluster's chief worker");
  cmd->add_option("job", o->job, "job spec (YAML)")->required();
  cmd->add_option("--cluster", o->cluster, "cluster spec (YAML)")->required();
  cmd->add_flag("--wait", o->wait, "follow the job until it ends and print its summary");
  cmd->add_option("--timeout-ms", o->timeout_ms, "deadline for each call to the chief")->check(CLI::PositiveNumber);
  cmd->add_option("--poll-s", o->poll_s, "seconds between progress lines with --wait")->check(CLI::PositiveNumber);
  cmd->add_option("--trace", o->trace_steps,
                  "record N steps (after a warm-up step) on every task; the chief writes them as a Chrome trace "
                  "(<run_dir>/trace.json) for https://ui.perfetto.dev or chrome://tracing")
      ->check(CLI::Range(1, 10000));
  cmd->callback([o, exit_code]() { *exit_code = RunSubmit(*o); });
}

}  // namespace flowps

// JobReport: everything a worker reports of its job -- its status fields (for
// `flowps status`), its progress lines, and on the chief the job's progress
// lines, <run_dir>/metrics.jsonl and <run_dir>/curves.png (gnuplot).
//
// Two windows, both computed by TrainingProgress: this worker's (its own
// steps, examples and loss, logged every log_every_steps of its steps) and, on
// the chief, the job's (the global step, moved by every worker, times the
// examples per step), reported at the same moments and at each evaluation.
//
// Threads: the job thread's; the status is published through `update`.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "worker/job_status.h"
#include "worker/training_loop.h"
#include "worker/training_progress.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace flowps {

struct JobReportOptions {
  std::string job;
  int worker = 0;
  bool chief = false;
  int64_t total_steps = 0;
  int64_t steps_per_epoch = 1;    // global steps per epoch of the whole training set
  int64_t examples_per_step = 1;  // per global step
  int64_t log_every_steps = 100;
  std::string run_dir;            // chief: metrics.jsonl and curves.png go here ("": none)
};

// Applies a change to the worker's published status (thread-safe on the runtime's side).
using StatusUpdate = std::function<void(const std::function<void(WorkerJobStatus&)>&)>;

class JobReport {
 public:
  // Opens the metrics file (chief with a run_dir); the error names its path.
  // `clock`: monotonic seconds. REQUIRES: log outlives the report.
  static StatusOr<std::unique_ptr<JobReport>> Create(JobReportOptions options, spdlog::logger* log,
                                                      StatusUpdate update, std::function<double()> clock);

  // The job holds parameters of `global_step` (every pull): the state becomes
  // running; the first call starts the job's window there.
  void AtGlobalStep(int64_t global_step);
  // One step of this worker was answered; `totals`: its steps so far.
  Status RecordStep(const StepRecord& step, const TrainingLoopResult& totals);
  // Chief: an evaluation at `global_step`; `accuracy`: its test accuracy,
  // none for a model without an accuracy metric (then the progress line,
  // metrics.jsonl and the plot carry no accuracy, and the status field is -1).
  Status RecordEvaluation(int64_t global_step, std::optional<double> accuracy);
  // At the end: the summary line, the plot (chief), the final status fields.
  // `final_metrics`: the chief's last evaluation (empty without test data).
  Status Finish(int64_t global_step, const TrainingLoopResult& totals, const std::map<std::string, double>& final_metrics);

 private:
  JobReport(JobReportOptions options, spdlog::logger* log, StatusUpdate update, std::function<double()> clock);
  Status ReportJob(std::optional<double> accuracy);

  JobReportOptions options_;
  spdlog::logger* log_;
  StatusUpdate update_;
  std::function<double()> clock_;
  double start_;
  int64_t first_step_ = -1;
  std::unique_ptr<TrainingProgress> mine_, job_;  // job_: chief, from the first global step
  std::unique_ptr<MetricsFile> metrics_;
  std::vector<ProgressReport> reports_;  // chief: for the plot
};

// Writes a PNG of the training loss and the test accuracy over time with gnuplot.
Status WriteCurvesPlot(const std::string& job, const std::vector<ProgressReport>& reports, const std::string& png);

}  // namespace flowps

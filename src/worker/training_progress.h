// TrainingProgress: the numbers a training loop reports while it runs -- the
// step, the loss averaged over a window of steps, examples/s over that window,
// the elapsed time and the ETA -- and their one-line and JSON forms.
//
// Time is passed in (seconds on a monotonic clock), so tests need no clock.
// Not thread-safe: one per training loop.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"

namespace flowps {

struct ProgressReport {
  int64_t step = 0;          // steps done
  int64_t total_steps = 0;   // planned
  double epoch = 0;          // fractional epochs done
  double loss = 0;           // mean loss over the window
  double examples_per_sec = 0;  // over the window
  double elapsed_sec = 0;
  double eta_sec = 0;        // at the window's rate
  std::optional<double> test_accuracy;  // when evaluated at this step
};

class TrainingProgress {
 public:
  // `start_sec`: the clock when training started; `first_step`: the step it
  // started from (a resumed job's checkpoint).
  TrainingProgress(int64_t total_steps, int64_t steps_per_epoch, double start_sec, int64_t first_step = 0);

  // One step finished after processing `examples` with this loss.
  void RecordStep(int64_t examples, double loss);
  // The steps done reached `step` (e.g. the global step of a distributed job,
  // moved by every worker), each step of `examples_per_step` examples; `loss`
  // is one more loss for the window's mean.
  void AdvanceTo(int64_t step, int64_t examples_per_step, double loss);
  // The report over the steps since the last Report() (or the start), then
  // starts a new window. A window without steps (a report right after
  // another, e.g. for an evaluation) repeats the last loss and rates.
  ProgressReport Report(double now_sec);
  // Starts the next window at `now_sec`, so that time spent between windows
  // (an evaluation) does not count against the training rate.
  void StartWindow(double now_sec) { window_start_sec_ = now_sec; }

  int64_t step() const { return step_; }
  int64_t total_examples() const { return total_examples_; }

 private:
  int64_t total_steps_, steps_per_epoch_;
  double start_sec_;
  int64_t step_;
  ProgressReport last_;
  int64_t total_examples_ = 0;
  double window_start_sec_;
  int64_t window_steps_ = 0, window_examples_ = 0, window_losses_ = 0;
  double window_loss_ = 0;
};

// "step 1200/4690 (25.6%) epoch 1.28  loss 0.4312  18420 ex/s  elapsed 0:12  ETA 0:35"
// plus "  test accuracy 85.31%" when set.
std::string FormatProgress(const ProgressReport& r);
// "1:02:03" or "2:03".
std::string FormatDuration(double seconds);
// One JSON object, no newline: {"step":..,"epoch":..,"loss":..,"examples_per_sec":..,
// "elapsed_sec":..,"test_accuracy":..} (test_accuracy only when set).
std::string ProgressJson(const ProgressReport& r);

// Appends JSON lines to <run_dir>/metrics.jsonl, creating the directory.
class MetricsFile {
 public:
  // The error names the path.
  static StatusOr<std::unique_ptr<MetricsFile>> Open(const std::string& run_dir);
  Status Append(const ProgressReport& r);
  const std::string& path() const { return path_; }

 private:
  explicit MetricsFile(std::string path) : path_(std::move(path)) {}
  std::string path_;
  std::ofstream out_;
};

}  // namespace flowps

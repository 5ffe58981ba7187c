#include "worker/training_progress.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

namespace flowps {

TrainingProgress::TrainingProgress(int64_t total_steps, int64_t steps_per_epoch, double start_sec, int64_t first_step)
    : total_steps_(total_steps),
      steps_per_epoch_(steps_per_epoch > 0 ? steps_per_epoch : 1),
      start_sec_(start_sec),
      step_(first_step),
      window_start_sec_(start_sec) {}

void TrainingProgress::RecordStep(int64_t examples, double loss) { AdvanceTo(step_ + 1, examples, loss); }

void TrainingProgress::AdvanceTo(int64_t step, int64_t examples_per_step, double loss) {
  const int64_t steps = std::max<int64_t>(0, step - step_);
  step_ += steps;
  window_steps_ += steps;
  total_examples_ += steps * examples_per_step;
  window_examples_ += steps * examples_per_step;
  window_loss_ += loss;
  ++window_losses_;
}

ProgressReport TrainingProgress::Report(double now_sec) {
  ProgressReport r = last_;
  r.step = step_;
  r.total_steps = total_steps_;
  r.epoch = static_cast<double>(step_) / static_cast<double>(steps_per_epoch_);
  r.elapsed_sec = now_sec - start_sec_;
  r.test_accuracy.reset();
  const double window = now_sec - window_start_sec_;
  if (window_steps_ > 0 && window > 0) {
    r.loss = window_losses_ > 0 ? window_loss_ / static_cast<double>(window_losses_) : 0;
    r.examples_per_sec = static_cast<double>(window_examples_) / window;
    const double steps_per_sec = static_cast<double>(window_steps_) / window;
    r.eta_sec = static_cast<double>(std::max<int64_t>(0, total_steps_ - step_)) / steps_per_sec;
    window_start_sec_ = now_sec;
    window_steps_ = window_examples_ = window_losses_ = 0;
    window_loss_ = 0;
  }
  last_ = r;
  return r;
}

std::string FormatDuration(double seconds) {
  long s = std::lround(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

std::string FormatProgress(const ProgressReport& r) {
  char buf[256];
  double pct = r.total_steps > 0 ? 100.0 * static_cast<double>(r.step) / static_cast<double>(r.total_steps) : 0;
  std::snprintf(buf, sizeof buf, "step %lld/%lld (%.1f%%) epoch %.2f  loss %.4f  %.0f ex/s  elapsed %s  ETA %s",
                static_cast<long long>(r.step), static_cast<long long>(r.total_steps), pct, r.epoch, r.loss,
                r.examples_per_sec, FormatDuration(r.elapsed_sec).c_str(), FormatDuration(r.eta_sec).c_str());
  std::string line = buf;
  if (r.test_accuracy) {
    std::snprintf(buf, sizeof buf, "  test accuracy %.2f%%", 100.0 * *r.test_accuracy);
    line += buf;
  }
  return line;
}

std::string ProgressJson(const ProgressReport& r) {
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "{\"step\":%lld,\"epoch\":%.4f,\"loss\":%.6g,\"examples_per_sec\":%.1f,\"elapsed_sec\":%.3f",
                static_cast<long long>(r.step), r.epoch, r.loss, r.examples_per_sec, r.elapsed_sec);
  std::string json = buf;
  if (r.test_accuracy) {
    std::snprintf(buf, sizeof buf, ",\"test_accuracy\":%.6f", *r.test_accuracy);
    json += buf;
  }
  return json + "}";
}

StatusOr<std::unique_ptr<MetricsFile>> MetricsFile::Open(const std::string& run_dir) {
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  if (ec) return Unavailable(run_dir + ": cannot create run directory: " + ec.message());
  std::string path = (std::filesystem::path(run_dir) / "metrics.jsonl").string();
  std::unique_ptr<MetricsFile> f(new MetricsFile(path));
  f->out_.open(path, std::ios::app);
  if (!f->out_) return Unavailable(path + ": cannot open for appending");
  return f;
}

Status MetricsFile::Append(const ProgressReport& r) {
  out_ << ProgressJson(r) << '\n';
  out_.flush();
  if (!out_) return Unavailable(path_ + ": write failed");
  return Status::OK();
}

}  // namespace flowps

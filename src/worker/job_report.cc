#include "worker/job_report.h"

#include "worker/model_metrics.h"

#include <spdlog/logger.h>

#include <cstdio>

namespace flowps {

StatusOr<std::unique_ptr<JobReport>> JobReport::Create(JobReportOptions options, spdlog::logger* log,
                                                       StatusUpdate update, std::function<double()> clock) {
  std::unique_ptr<JobReport> r(new JobReport(std::move(options), log, std::move(update), std::move(clock)));
  if (r->options_.chief && !r->options_.run_dir.empty()) {
    FLOWPS_ASSIGN_OR_RETURN(r->metrics_, MetricsFile::Open(r->options_.run_dir));
  }
  return r;
}

JobReport::JobReport(JobReportOptions options, spdlog::logger* log, StatusUpdate update, std::function<double()> clock)
    : options_(std::move(options)), log_(log), update_(std::move(update)), clock_(std::move(clock)), start_(clock_()) {
  update_([&](WorkerJobStatus& st) { st.total_steps = options_.total_steps; });
}

void JobReport::AtGlobalStep(int64_t global_step) {
  const double now = clock_();
  if (first_step_ < 0) {
    first_step_ = global_step;
    mine_ = std::make_unique<TrainingProgress>(options_.total_steps, options_.steps_per_epoch, now, 0);
    job_ = std::make_unique<TrainingProgress>(options_.total_steps, options_.steps_per_epoch, now, global_step);
  }
  update_([&](WorkerJobStatus& st) {
    st.state = JobState::kRunning;
    st.global_step = global_step;
    st.elapsed_seconds = now - start_;
  });
}

Status JobReport::RecordStep(const StepRecord& step, const TrainingLoopResult& totals) {
  mine_->RecordStep(step.examples, step.loss);
  if (options_.chief) job_->AdvanceTo(step.global_step, options_.examples_per_step, step.loss);
  update_([&](WorkerJobStatus& st) {
    st.local_steps = totals.local_steps;
    st.examples = totals.examples;
    st.stale_dropped = totals.stale;
  });
  if (totals.local_steps % options_.log_every_steps != 0) return Status::OK();
  const ProgressReport r = mine_->Report(clock_());
  update_([&](WorkerJobStatus& st) {
    st.loss = r.loss;
    st.examples_per_sec = r.examples_per_sec;
  });
  log_->info("worker {}: global step {}  loss {:.4f}  {:.0f} ex/s  stale dropped {}", options_.worker,
             step.global_step, r.loss, r.examples_per_sec, totals.stale);
  return options_.chief ? ReportJob(std::nullopt) : Status::OK();
}

Status JobReport::RecordEvaluation(int64_t global_step, std::optional<double> accuracy) {
  update_([&](WorkerJobStatus& st) { st.test_accuracy = accuracy.value_or(-1); });
  if (job_ == nullptr) return Status::OK();
  job_->AdvanceTo(global_step, options_.examples_per_step, 0);
  FLOWPS_RETURN_IF_ERROR(ReportJob(accuracy));
  job_->StartWindow(clock_());  // the evaluation's time is not training time
  mine_->StartWindow(clock_());
  return Status::OK();
}

// Chief: one progress line (and metrics row) of the job over the steps since the last.
Status JobReport::ReportJob(std::optional<double> accuracy) {
  ProgressReport r = job_->Report(clock_());
  r.test_accuracy = accuracy;
  update_([&](WorkerJobStatus& st) { st.job_examples_per_sec = r.examples_per_sec; });
  log_->info("job {}", FormatProgress(r));
  reports_.push_back(r);
  if (metrics_) FLOWPS_RETURN_IF_ERROR(metrics_->Append(r));
  return Status::OK();
}

Status JobReport::Finish(int64_t global_step, const TrainingLoopResult& totals,
                         const std::map<std::string, double>& final_metrics) {
  const double seconds = clock_() - start_;
  if (!options_.chief) {
    log_->info("worker {}: job '{}' reached step {}; {} steps of its own, {} dropped as stale", options_.worker,
               options_.job, global_step, totals.local_steps, totals.stale);
    return Status::OK();
  }
  std::string metrics_path, plot_path;
  if (metrics_) {
    metrics_path = metrics_->path();
    const std::string png = options_.run_dir + "/curves.png";
    Status plotted = WriteCurvesPlot(options_.job, reports_, png);
    if (plotted.ok())
      plot_path = png;
    else
      log_->warn("no plot: {}", plotted.message());
  }
  const int64_t steps = global_step - std::max<int64_t>(0, first_step_);
  const double rate = seconds > 0 ? static_cast<double>(steps * options_.examples_per_step) / seconds : 0;
  update_([&](WorkerJobStatus& st) {
    st.metrics_path = metrics_path;
    st.plot_path = plot_path;
    st.job_examples_per_sec = rate;
    st.elapsed_seconds = seconds;
  });
  log_->info("job '{}' done: final test {} at step {} in {}, {:.0f} examples/s{}{}", options_.job,
             final_metrics.empty() ? std::string("-") : FormatMetrics(final_metrics), global_step, FormatDuration(seconds), rate,
             metrics_path.empty() ? "" : "; metrics: " + metrics_path, plot_path.empty() ? "" : "; plot: " + plot_path);
  return Status::OK();
}

Status WriteCurvesPlot(const std::string& job, const std::vector<ProgressReport>& reports, const std::string& png) {
  std::string script = "set terminal png size 900,700\nset output '" + png + "'\n";
  script += "set multiplot layout 2,1 title 'flowps job " + job + "'\nset grid\nset xlabel 'time (s)'\n";
  script += "set ylabel 'training loss'\nplot '-' using 1:2 with lines lw 2 title 'loss'\n";
  for (const ProgressReport& r : reports) script += fmt::format("{} {}\n", r.elapsed_sec, r.loss);
  script += "e\nset ylabel 'test accuracy (%)'\n";
  script += "plot '-' using 1:2 with linespoints lw 2 pt 7 title 'test accuracy'\n";
  bool any = false;
  for (const ProgressReport& r : reports)
    if (r.test_accuracy) {
      script += fmt::format("{} {}\n", r.elapsed_sec, 100.0 * *r.test_accuracy);
      any = true;
    }
  if (!any) script += "0 0\n";
  script += "e\nunset multiplot\n";
  FILE* gp = popen("gnuplot 2>&1", "w");
  if (gp == nullptr) return Unavailable("cannot run gnuplot for " + png);
  fwrite(script.data(), 1, script.size(), gp);
  int rc = pclose(gp);
  if (rc != 0)
    return Unavailable("gnuplot failed writing " + png + " (exit status " + std::to_string(rc) +
                       "; install it with: apt-get install gnuplot-nox)");
  return Status::OK();
}

}  // namespace flowps

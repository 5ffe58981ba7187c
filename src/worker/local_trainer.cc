#include "worker/local_trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <optional>

#include "data/data_source.h"
#include "data/pipeline.h"
#include "worker/data_input.h"
#include "worker/local_model.h"
#include "worker/lstm_lm.h"
#include "worker/model_metrics.h"
#include "worker/training_progress.h"

namespace flowps {

StatusOr<TrainResult> TrainLocally(const JobSpec& job, const TrainOptions& options, spdlog::logger* log) {
  std::function<double()> clock = options.clock;
  if (!clock)
    clock = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
  const std::string where = job.source + ": job '" + job.name + "'";
  log->info("training job '{}' in one process: model {}, optimizer {} (learning rate {}), batch {}", job.name,
            ModelKindName(job.model.kind), OptimizerKindName(job.optimizer.kind), job.optimizer.learning_rate,
            job.data.batch_size);
  if (job.mode.total_workers > 1 || job.mode.mode == TrainingMode::kSync)
    log->info("mode {} (total_workers {}) applies to submitted jobs; flowps train runs one worker",
              TrainingModeName(job.mode.mode), job.mode.total_workers);
  if (!job.checkpoint.dir.empty())
    log->info("checkpoints ({}) are written by submitted jobs only; flowps train writes none", job.checkpoint.dir);

  auto built = LocalModel::Create(job.model, job.optimizer, options.pool);
  if (!built.ok()) return built.status().WithContext(where);
  std::unique_ptr<LocalModel> model = std::move(built).value();
  if (!model->model().tables.empty())
    return InvalidArgument(where + ": the model looks up embedding table '" + model->model().tables[0].table +
                           "', which lives on the ps: train it on a cluster (flowps submit)");
  log->info("model has {} parameters in {} variables", model->num_parameters(), model->model().variables.size());
  model->set_carry_state(job.data.contiguous && job.model.carry_state);
  if (model->num_states() > 0)
    log->info("recurrent state ({} tensors): {}", model->num_states(),
              model->carries_state() ? "carried from step to step (data.contiguous)" : "zero at every step");
  FLOWPS_ASSIGN_OR_RETURN(JobData data, OpenJobData(job, *model->model().graph, /*chief=*/true, log));
  const std::vector<FeedSpec> feeds = EffectiveFeeds(job.data, *model->model().graph);

  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<data::Pipeline> batches,
                          data::Pipeline::Start(data.train, TrainReading(job.data, 0, 1)));

  const int64_t per_epoch = (data.train_examples + job.data.batch_size - 1) / job.data.batch_size;
  int64_t total = job.steps > 0 ? job.steps : static_cast<int64_t>(std::ceil(job.epochs * static_cast<double>(per_epoch)));
  if (options.max_steps > 0) total = std::min(total, options.max_steps);
  std::unique_ptr<MetricsFile> metrics;
  if (!job.run_dir.empty()) {
    FLOWPS_ASSIGN_OR_RETURN(metrics, MetricsFile::Open(job.run_dir));
  }

  const double start = clock();
  TrainingProgress progress(total, per_epoch, start);
  TrainResult result;
  for (int64_t step = 1; step <= total; ++step) {
    FLOWPS_ASSIGN_OR_RETURN(data::ColumnBatch batch, batches->Next());
    model->ContinueStreams(batch.epoch);
    auto loss = model->Step(BindFeeds(feeds, batch));
    if (!loss.ok()) return loss.status().WithContext(where + ": step " + std::to_string(step));
    progress.RecordStep(batch.size, *loss);
    bool report = step % job.log_every_steps == 0 || step == total;
    bool eval = data.test && ((job.eval_every_steps > 0 && step % job.eval_every_steps == 0) || step == total);
    if (!report && !eval) continue;
    ProgressReport r = progress.Report(clock());
    if (eval) {
      FLOWPS_ASSIGN_OR_RETURN(result.test_metrics, EvaluateMetrics(*data.test, feeds, model.get()));
      auto accuracy = result.test_metrics.find("accuracy");
      if (accuracy != result.test_metrics.end()) r.test_accuracy = result.test_accuracy = accuracy->second;
      log->info("test metrics at step {}: {}", step, FormatMetrics(result.test_metrics));
      progress.StartWindow(clock());
    }
    result.final_loss = r.loss;
    log->info("{}", FormatProgress(r));
    if (metrics) FLOWPS_RETURN_IF_ERROR(metrics->Append(r));
  }
  result.steps = total;
  result.epochs = static_cast<double>(total) / static_cast<double>(per_epoch);
  result.seconds = clock() - start;
  result.examples_per_sec = result.seconds > 0 ? static_cast<double>(progress.total_examples()) / result.seconds : 0;
  if (metrics) result.metrics_path = metrics->path();
  log->info("done: final test accuracy {:.2f}% after {} steps ({:.2f} epochs) in {}, {:.0f} examples/s{}",
            100.0 * result.test_accuracy, result.steps, result.epochs, FormatDuration(result.seconds),
            result.examples_per_sec, result.metrics_path.empty() ? "" : "; metrics: " + result.metrics_path);
  if (IsTextModel(*model)) {
    FLOWPS_ASSIGN_OR_RETURN(std::string sample, SampleText(*model, SampleOptions{}));
    log->info("sample of the trained model:\n{}", PrintableText(sample));
  }
  return result;
}

}  // namespace flowps

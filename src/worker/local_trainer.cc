#include "worker/local_trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <optional>

#include "data/data_source.h"
#include "data/pipeline.h"
#include "worker/data_input.h"
#include "worker/local_model.h"
#include "worker/training_progress.h"

namespace flowps {
namespace {

// The job's train and test data, checked against the model's placeholders.
struct JobData {
  data::DataSource train;
  std::optional<data::DataSource> test;
  int64_t train_examples = 0;
};

StatusOr<JobData> OpenJobData(const JobSpec& job, const Graph& graph, spdlog::logger* log) {
  FLOWPS_ASSIGN_OR_RETURN(data::DataSource train, data::OpenJobSource(job.data, data::Split::kTrain));
  FLOWPS_RETURN_IF_ERROR(CheckFeeds(job.data, graph, train.schema(), "train"));
  JobData d{std::move(train), std::nullopt, 0};
  if (!job.data.train.empty() && job.data.test.empty()) {
    log->info("data.test is not given: no test accuracy is measured");
  } else {
    FLOWPS_ASSIGN_OR_RETURN(data::DataSource test, data::OpenJobSource(job.data, data::Split::kTest));
    FLOWPS_RETURN_IF_ERROR(CheckFeeds(job.data, graph, test.schema(), "test"));
    d.test = std::move(test);
  }
  // One pass over the training data counts it and checks every record, so
  // that a malformed one stops the job before its first step.
  FLOWPS_ASSIGN_OR_RETURN(d.train_examples, data::CountShardExamples(d.train, 0, 1));
  if (d.train_examples == 0) return InvalidArgument(d.train.files()[0] + ": the training data holds no examples");
  log->info("data: {} {} file(s), {} training examples; columns {}", DataFormatName(job.data.format),
            d.train.files().size(), d.train_examples, data::DescribeSchema(d.train.schema()));
  return d;
}

// The fraction of the test set the model classifies correctly.
StatusOr<double> EvaluateOn(const data::DataSource& test, const std::vector<FeedSpec>& feeds, LocalModel* model) {
  data::PipelineOptions once;
  once.batch_size = 1000;
  once.epochs = 1;
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<data::Pipeline> batches, data::Pipeline::Start(test, once));
  int64_t correct = 0, total = 0;
  for (;;) {
    StatusOr<data::ColumnBatch> b = batches->Next();
    if (!b.ok() && b.status().code() == Code::kOutOfRange) break;
    if (!b.ok()) return b.status();
    FLOWPS_ASSIGN_OR_RETURN(int64_t right, model->CountCorrect(BindFeeds(feeds, *b)));
    correct += right;
    total += b->size;
  }
  return total > 0 ? static_cast<double>(correct) / static_cast<double>(total) : 0.0;
}

}  // namespace

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
  log->info("model has {} parameters in {} variables", model->num_parameters(), model->model().variables.size());
  FLOWPS_ASSIGN_OR_RETURN(JobData data, OpenJobData(job, *model->model().graph, log));
  const std::vector<FeedSpec> feeds = EffectiveFeeds(job.data);

  data::PipelineOptions reading;
  reading.batch_size = job.data.batch_size;
  reading.shuffle_buffer = job.data.shuffle ? job.data.shuffle_buffer : 0;
  reading.seed = static_cast<uint64_t>(job.data.seed);
  reading.prefetch_batches = job.data.prefetch_batches;
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<data::Pipeline> batches, data::Pipeline::Start(data.train, reading));

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
    auto loss = model->Step(BindFeeds(feeds, batch));
    if (!loss.ok()) return loss.status().WithContext(where + ": step " + std::to_string(step));
    progress.RecordStep(batch.size, *loss);
    bool report = step % job.log_every_steps == 0 || step == total;
    bool eval = data.test && ((job.eval_every_steps > 0 && step % job.eval_every_steps == 0) || step == total);
    if (!report && !eval) continue;
    ProgressReport r = progress.Report(clock());
    if (eval) {
      FLOWPS_ASSIGN_OR_RETURN(r.test_accuracy, EvaluateOn(*data.test, feeds, model.get()));
      result.test_accuracy = *r.test_accuracy;
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
  return result;
}

}  // namespace flowps

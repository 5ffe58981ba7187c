// TrainLocally: `flowps train <job.yaml>` -- a whole job in one process, so a
// model can be debugged before it is distributed.
//
// One worker reads the whole training set through a data::Pipeline (any
// format of the data section, shuffled by its streaming buffer, batches of
// data.batch_size, the last partial batch of an epoch kept), feeds the
// model's placeholders by data.feeds, runs forward and backward with the
// Executor, and applies the job's optimizer in-process
// (kernels/optimizers.h) after each step. It logs a progress line every
// train.log_every_steps steps (step, loss, examples/s, ETA), evaluates on the
// test set every train.eval_every_steps steps and at the end, appends every
// progress line to <run_dir>/metrics.jsonl when run_dir is set, and ends
// with a summary line giving the final test accuracy. Before the first step
// it checks the feeds against the model (CheckFeeds) and reads the training
// data once, counting it and checking every record: a malformed record or a
// column that does not fit its placeholder stops the job before it starts.
// `mode` and `checkpoint` apply to submitted (distributed) jobs; TrainLocally
// says so in the log and does not use them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/job_spec.h"
#include "core/status.h"
#include "worker/model_metrics.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace flowps {

class ThreadPool;

struct TrainOptions {
  ThreadPool* pool = nullptr;      // compute pool, owned by the caller; required
  std::function<double()> clock;   // monotonic seconds; empty: std::chrono::steady_clock
  int64_t max_steps = 0;           // > 0: stop after this many steps even if the job asks for more
};

struct TrainResult {
  int64_t steps = 0;
  double epochs = 0;
  double final_loss = 0;       // mean over the last progress window
  double test_accuracy = 0;    // in [0, 1], over the whole test set (the "accuracy" metric; 0 without it)
  TestMetrics test_metrics;    // every metric of the model's roles, and "loss", at the last evaluation
  double seconds = 0;          // wall time of the training loop (evaluations included)
  double examples_per_sec = 0;
  std::string metrics_path;    // "" without run_dir
};

// REQUIRES: options.pool and logger are non-null and outlive the call.
StatusOr<TrainResult> TrainLocally(const JobSpec& job, const TrainOptions& options, spdlog::logger* logger);

}  // namespace flowps

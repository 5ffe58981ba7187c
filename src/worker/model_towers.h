// ModelTowers: the GradientSource of a distributed worker -- its LocalModel's
// towers (worker/local_model.h) -- and the chief's evaluations on the same model.
//
// LocalModel::ComputeGradients and Evaluate block while their kernels run on
// the compute pool, so they run on a thread of their own (the "step driver",
// one thread that only waits), and their results come back to the job
// thread's KJ event loop through cross-thread promises: the job thread keeps
// sending and receiving (a push in flight, the chief's peer sweep) while the
// step computes. Load adopts the pulled tensors as the model's variables,
// with no copy (LocalModel::AdoptVariables): they alias the PsClient's
// response, which belongs to the job thread, and the model releases them only
// in Load, Release or its destructor, all on the job thread.
//
// A model that carries recurrent state (LocalModel::set_carry_state) starts
// it again at each new epoch of the batches (LocalModel::ContinueStreams).
//
// Threads: every method is called on the job thread (the one whose event loop
// waits on the promises); one operation at a time (the TrainingLoop's order).
// The model must outlive this object and be destroyed on the job thread (it
// may hold the values last loaded); the destructor waits for the running
// operation to finish.
#pragma once

#include <memory>

#include "core/job_spec.h"
#include "data/data_source.h"
#include "worker/model_metrics.h"
#include "worker/training_loop.h"

namespace flowps {

class LocalModel;
class ThreadPool;

class ModelTowers final : public GradientSource {
 public:
  // `feeds` bind a batch's columns to the model's placeholders (CheckFeeds
  // passed for them). REQUIRES: model and pool outlive this object.
  ModelTowers(LocalModel* model, ThreadPool* pool, std::vector<FeedSpec> feeds);
  ~ModelTowers() override;

  kj::Promise<Status> Load(std::map<std::string, Tensor> values) override;
  void Release() override;
  // `reads` is unused (a model without tables); TableSource feeds the rows.
  kj::Promise<StatusOr<Gradients>> Compute(const data::ColumnBatch& batch, std::shared_ptr<TableReads> reads,
                                           const TraceContext& trace) override;
  // The model's metrics (worker/model_metrics.h) over one pass of `test`,
  // as last loaded, `extra` adding columns to each batch (on the driver thread).
  // REQUIRES: `test` and `extra` stay valid until the promise resolves.
  kj::Promise<StatusOr<TestMetrics>> Evaluate(const data::DataSource& test, ExtraColumns extra = nullptr);

 private:
  LocalModel* model_;
  ThreadPool* pool_;
  std::vector<FeedSpec> feeds_;
  std::unique_ptr<ThreadPool> driver_;  // one thread that waits for the pool
};

}  // namespace flowps

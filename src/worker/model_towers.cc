#include "worker/model_towers.h"

#include "core/thread_pool.h"
#include "net/pool_bridge.h"
#include "worker/data_input.h"
#include "worker/local_model.h"
#include "worker/model_metrics.h"

namespace flowps {

ModelTowers::ModelTowers(LocalModel* model, ThreadPool* pool, std::vector<FeedSpec> feeds)
    : model_(model), pool_(pool), feeds_(std::move(feeds)), driver_(NewAsioThreadPool(1)) {}

ModelTowers::~ModelTowers() = default;

kj::Promise<Status> ModelTowers::Load(std::map<std::string, Tensor> values) {
  // No copy, so no work for the pool: taken over on the job thread.
  return model_->AdoptVariables(std::move(values));
}

void ModelTowers::Release() { model_->ReleaseVariables(); }

kj::Promise<StatusOr<GradientSource::Gradients>> ModelTowers::Compute(const data::ColumnBatch& batch,
                                                                      std::shared_ptr<TableReads> /*reads*/,
                                                                      const TraceContext& trace) {
  LocalModel* model = model_;
  const data::ColumnBatch* b = &batch;
  const std::vector<FeedSpec>* feeds = &feeds_;
  return RunOnPool(*driver_, [model, b, feeds, trace]() -> StatusOr<Gradients> {
    model->ContinueStreams(b->epoch);
    FLOWPS_ASSIGN_OR_RETURN(LocalModel::BatchGradients g, model->ComputeGradients(BindFeeds(*feeds, *b), trace));
    return Gradients{g.loss, std::move(g.grads)};
  });
}

kj::Promise<StatusOr<TestMetrics>> ModelTowers::Evaluate(const data::DataSource& test, ExtraColumns extra) {
  LocalModel* model = model_;
  const data::DataSource* t = &test;
  const std::vector<FeedSpec>* feeds = &feeds_;
  return RunOnPool(*driver_, [model, t, feeds, extra = std::move(extra)]() {
    return EvaluateMetrics(*t, *feeds, model, extra);
  });
}

}  // namespace flowps

#include "worker/model_towers.h"

#include "core/thread_pool.h"
#include "net/pool_bridge.h"
#include "worker/local_model.h"

namespace flowps {

ModelTowers::ModelTowers(LocalModel* model, ThreadPool* pool)
    : model_(model), pool_(pool), driver_(NewAsioThreadPool(1)) {}

ModelTowers::~ModelTowers() = default;

kj::Promise<Status> ModelTowers::Load(const std::map<std::string, Tensor>& values) {
  LocalModel* model = model_;
  const std::map<std::string, Tensor>* v = &values;
  return RunOnPool(*pool_, [model, v]() { return model->SetVariables(*v); });
}

kj::Promise<StatusOr<GradientSource::Gradients>> ModelTowers::Compute(const data::Batch& batch) {
  LocalModel* model = model_;
  const data::Batch* b = &batch;
  return RunOnPool(*driver_, [model, b]() -> StatusOr<Gradients> {
    FLOWPS_ASSIGN_OR_RETURN(LocalModel::BatchGradients g, model->ComputeGradients(b->images, b->labels));
    return Gradients{g.loss, std::move(g.grads)};
  });
}

kj::Promise<StatusOr<double>> ModelTowers::Evaluate(const data::Dataset& test) {
  LocalModel* model = model_;
  const data::Dataset* t = &test;
  return RunOnPool(*driver_, [model, t]() { return model->Evaluate(*t); });
}

}  // namespace flowps

// LocalModel: a model trained in this process -- its graph with the gradients
// added, an Executor, the variables (in a VariableStore) and the optimizer
// state. Step() is one training step: forward, backward, and the optimizer
// applied to every variable (kernels/optimizers.h).
//
// A distributed worker uses the same model without the optimizer: it sets the
// values pulled from the ps (SetVariables), computes the gradients of a batch
// split into towers (ComputeGradients) and pushes them.
//
// Used by `flowps train`, the workers and the `step` benchmark. Not
// thread-safe: one training loop drives it. Variable values are updated in
// place between steps, never while a step runs.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/job_spec.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/variable_gradient.h"
#include "data/dataset.h"
#include "graph/executor.h"
#include "graph/op_registry.h"
#include "graph/variable_store.h"
#include "kernels/optimizers.h"
#include "worker/models.h"

namespace flowps {

class ThreadPool;

// The kernels' optimizer configuration for a job's optimizer section.
kernels::OptimizerConfig ToOptimizerConfig(const OptimizerSpec& spec);

class LocalModel {
 public:
  // Builds the model (or loads its graph file), adds the gradients and sets
  // every variable to its initial value. REQUIRES: pool outlives the model.
  static StatusOr<std::unique_ptr<LocalModel>> Create(const ModelSpec& model, const OptimizerSpec& optimizer,
                                                      ThreadPool* pool);
  LocalModel(const LocalModel&) = delete;
  LocalModel& operator=(const LocalModel&) = delete;

  // One training step on a batch (images float32 [b, 784], labels int32 [b]);
  // returns the batch's mean loss. A non-finite loss is FailedPrecondition and
  // leaves the variables as they were.
  StatusOr<double> Step(const Tensor& images, const Tensor& labels);
  // The gradients of a batch's mean loss, without applying them. The batch is
  // split into `towers` near-equal slices run at once on the pool (one
  // Executor step each); their gradients and losses are averaged, weighted by
  // slice size. Dense gradients have the variable's shape; sparse ones are the
  // towers' rows concatenated. A non-finite loss is FailedPrecondition.
  struct BatchGradients {
    double loss = 0;
    std::vector<VariableGradient> grads;  // one per variable, in model().variables order
  };
  StatusOr<BatchGradients> ComputeGradients(const Tensor& images, const Tensor& labels, int towers);
  // Replaces variable values (e.g. pulled from the ps); each must keep its
  // shape. InvalidArgument naming the first that does not, and nothing changes.
  Status SetVariables(const std::map<std::string, Tensor>& values);

  // The fraction of `test` classified correctly.
  StatusOr<double> Evaluate(const data::Dataset& test);

  int64_t steps_done() const { return step_; }
  int64_t num_parameters() const;
  const Model& model() const { return model_; }

 private:
  struct TrainedVariable {
    std::string name;
    Tensor value;  // shared with store_
    std::vector<Tensor> slots;
    GradValue grad;
    int dense_fetch = -1, indices_fetch = -1, values_fetch = -1;  // positions in fetches_
  };
  LocalModel(kernels::OptimizerConfig config, ThreadPool* pool) : optimizer_(config), pool_(pool) {}

  OpRegistry registry_;
  Model model_;
  VariableStore store_;
  std::unique_ptr<Executor> executor_;
  kernels::Optimizer optimizer_;
  std::vector<TrainedVariable> vars_;
  std::vector<Output> fetches_;  // the loss, then the gradients
  ThreadPool* pool_;
  int64_t step_ = 0;
};

}  // namespace flowps

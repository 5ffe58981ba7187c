// Models: the built-in networks of the job spec (softmax, mlp, cnn), built
// with the graph builder API, and models loaded from a GraphDef file.
//
// Every model has the same interface (README.md (Job spec)):
//   x       Placeholder float32 [-1, 784]  images in [0, 1]
//   y       Placeholder int32 [-1]         labels in 0..9
//   logits  float32 [-1, 10]
//   loss    float32 scalar, the mean sparse softmax cross-entropy of the batch
// and a list of trainable variables with their initial values.
// A Model owns its graph; Outputs point into it. Not thread-safe to build;
// the built graph may be run by many executors.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/job_spec.h"
#include "core/status.h"
#include "core/tensor.h"
#include "graph/graph.h"
#include "kernels/initializers.h"

namespace flowps {

struct ModelVariable {
  std::string name;    // the variable's var_name
  Output read;         // its Variable node (the gradient is taken here)
  Tensor initial_value;
  // How the initial value was drawn, when a built-in model drew it (a ps can
  // re-create any row range of it); empty for loaded graphs.
  std::optional<kernels::InitializerSpec> initializer;
};

struct Model {
  std::unique_ptr<Graph> graph;
  Output x, y, logits, loss;
  std::vector<ModelVariable> variables;
};

inline constexpr int64_t kImageFeatures = 784;
inline constexpr int kNumClasses = 10;

// Builds a built-in model (spec.kind softmax, mlp or cnn) or loads spec.graph_file.
// REQUIRES: registry holds the standard ops and outlives the model.
StatusOr<Model> BuildModel(const ModelSpec& spec, const OpRegistry* registry);

// Loads a GraphDef file that follows the contract of README.md (Job spec); the
// error names the file and what is missing.
StatusOr<Model> LoadModelGraph(const std::string& path, const OpRegistry* registry);

// Adds a "<var>/initial_value" Const node per variable, so that the model can
// be saved with WriteGraphFile and loaded back by LoadModelGraph.
Status AddInitialValueNodes(Model* model);

// How many rows of logits [n, c] have their arg-max equal to labels [n].
int64_t CountCorrect(const Tensor& logits, const Tensor& labels);

}  // namespace flowps

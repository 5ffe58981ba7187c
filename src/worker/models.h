// Models: what a job trains, always a graph that is a complete model
// (graph/model_roles.h): Variable nodes carrying their initializers, and the
// roles -- inputs fed from data columns, the loss, the metrics.
//
// There is one path from a graph to a trained model. A built-in network of the
// job spec (softmax, mlp, cnn) is first built as such a graph
// (BuildBuiltinGraph: inputs x <- "features", y <- "label", the loss, the
// metric "accuracy"); a graph file (model.graph_file), or the graph bytes the
// chief ships to every worker, is read; either goes through ModelFromGraph,
// which refuses an incomplete model naming the node and draws every
// variable's initial value from its initializer (as the ps draws its rows).
//
// A Model owns its graph; Outputs point into it. Not thread-safe to build; the
// built graph may be run by many executors.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/job_spec.h"
#include "core/status.h"
#include "core/tensor.h"
#include "graph/graph.h"
#include "graph/table_input.h"
#include "kernels/initializers.h"

namespace flowps {

struct ModelVariable {
  std::string name;    // the variable's var_name
  Output read;         // its Variable node (the gradient is taken here)
  Tensor initial_value;  // drawn from `initializer`
  kernels::InitializerSpec initializer;  // from the node's attributes; the ps runs the same
};

struct Model {
  std::unique_ptr<Graph> graph;  // its roles() name the inputs, loss and metrics
  Output loss;                   // graph->roles().loss
  // The image classifier's nodes when the graph has them (every built-in
  // does): Placeholders "x" float32 [-1, 784] and "y" int32 [-1], and the
  // logits of the "accuracy" metric. Invalid otherwise.
  Output x, y, logits;
  std::vector<ModelVariable> variables;  // in graph order
  std::vector<TableInput> tables;        // the ps embedding tables it looks up (graph/table_input.h)
};

inline constexpr int64_t kImageFeatures = 784;
inline constexpr int kNumClasses = 10;

// A built-in model (spec.kind softmax, mlp, cnn, wide_deep or lstm_lm) as a
// complete-model graph: initializers (He normal seeded from spec.seed, biases
// zero; lstm_lm: worker/lstm_lm.h) and roles. wide_deep (on libsvm click logs:
// label, ids, offsets) looks up the tables 'wide' (dim 1) and 'deep'
// (spec.embedding_dim), with the metrics auc and log_loss.
// REQUIRES: registry holds the standard ops and outlives the graph.
StatusOr<std::unique_ptr<Graph>> BuildBuiltinGraph(const ModelSpec& spec, const OpRegistry* registry);

// An Identity of `o` named `name`, so that a graph contract's names ("loss",
// "logits") exist in the graph; invalid for an invalid `o`.
Output NamedIdentity(Output o, const std::string& name);

// The model of `graph` after ValidateModel; `where` (a file, "the job's
// graph") prefixes errors.
StatusOr<Model> ModelFromGraph(std::unique_ptr<Graph> graph, const std::string& where);

// The job's model: a built-in built by BuildBuiltinGraph, else the graph of
// spec.graph_def (the shipped bytes) or of spec.graph_file.
// REQUIRES: registry holds the standard ops and outlives the model.
StatusOr<Model> BuildModel(const ModelSpec& spec, const OpRegistry* registry);

// The bytes of the graph file at `path` once they are checked to be a
// complete model (ValidateModel; the error names the file, the node and what
// is wrong): what `flowps submit` ships with a graph job.
StatusOr<std::string> ReadModelGraphFile(const std::string& path);
// The same check of bytes; `where` names them in errors.
Status CheckModelGraph(const std::string& bytes, const std::string& where);

// How many rows of logits [n, c] have their arg-max equal to labels [n].
int64_t CountCorrect(const Tensor& logits, const Tensor& labels);

}  // namespace flowps

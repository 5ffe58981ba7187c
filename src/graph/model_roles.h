// What makes a graph a complete model that a cluster can train with no model
// code of its own:
//   - each variable's initializer, kept as attributes of its Variable node
//     ("init" = the kind's name, plus "init_seed", "init_value", "init_min",
//     "init_max", "init_mean", "init_stddev" as the kind needs them), so that a
//     ps can create the variable from the GraphDef alone;
//   - the graph's roles (GraphRoles, held by the Graph and saved in the
//     GraphDef): the inputs (Placeholders) with the data column that feeds
//     each, the loss, and the metrics to report.
// kernels::InitializerSpec is the one C++ definition of an initializer; this
// file only maps it to and from node attributes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/attr.h"
#include "graph/graph.h"
#include "kernels/initializers.h"

namespace flowps {

// Writes `spec` into `attrs` as the attributes above (only those its kind uses).
void SetInitializerAttrs(const kernels::InitializerSpec& spec, AttrMap* attrs);
// The initializer a Variable node's attributes hold: nullopt without "init";
// InvalidArgument naming the attribute when one is malformed or the spec is
// invalid (kernels::InitializerSpec::Validate).
StatusOr<std::optional<kernels::InitializerSpec>> InitializerFromAttrs(const AttrMap& attrs);
// Whether `spec` can initialize a variable of dtype/shape: every kind fills
// float32 only, the shape must be fully defined and hold at most 2^40
// elements. The error says why not.
Status InitializerFits(const kernels::InitializerSpec& spec, DType dtype, const Shape& shape);

// Adds a Variable node (like ops.h Variable) that carries `init`.
Output Variable(Graph& g, const std::string& name, Shape shape, const kernels::InitializerSpec& init,
                DType dtype = DType::kFloat32);

// The metric kinds a graph may report; each takes its tensors in this order:
//   mean      [value]             the mean over all examples of a float32
//                                 scalar (per batch) or [N] tensor (the mean loss)
//   accuracy  [logits, labels]    float32 [N, C], int32/int64 [N]: the
//                                 fraction of rows whose arg-max is the label
//   auc       [scores, labels]    float32 [N], int32/int64 [N] of 0/1: the
//                                 area under the ROC curve
//   perplexity [value]            as mean, of a loss in nats; reported as
//                                 exp(mean) (a language model's perplexity)
enum class MetricKind { kMean, kAccuracy, kAuc, kPerplexity };
const char* MetricKindName(MetricKind kind);  // "mean", "accuracy", "auc", "perplexity"
StatusOr<MetricKind> ParseMetricKind(const std::string& name);

// Whether `node` is the initial value of one of the graph's state roles (fed
// by the worker, not by a data column).
bool IsStateInput(const Graph& graph, const Node& node);

// Validates the full model contract: every variable has an initializer that
// fits it, there is at least one input, every input is a Placeholder fed by a
// distinct non-empty column, the loss is a float32 scalar, and every metric has
// a unique name and tensors of the kind's dtypes and ranks, and every state
// role's initial value is a distinct float32 Placeholder [-1, ...] whose
// final value has its shape. The error names
// the node (and op) and what is wrong, or the missing role.
Status ValidateModel(const Graph& graph);

}  // namespace flowps

// Finite-difference gradient checking for ops and small models.
//
// CheckOp builds, in a fresh graph, placeholders for `inputs`, y = build(...),
// and loss = ReduceSum(y * R) with fixed random weights R; then
//  - checks that every output of y's node has the shape (and dtype) its shape
//    function inferred (with fully known input shapes, the match is exact);
//  - unless shape_only, compares the symbolic gradient of the loss wrt each
//    checked float input with central differences of the loss (evaluated in
//    double from the fetched y, so float32 rounding of the sum does not count).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "graph/graph.h"
#include "graph/op_registry.h"

#include "../random_tensor.h"  // RandomTensor

namespace flowps {
class ThreadPool;
}

namespace flowps::testing {

struct GradCheckOptions {
  float eps = 1e-2f;   // central-difference step
  float atol = 2e-3f;  // |symbolic - numeric| <= atol + rtol * |numeric|
  float rtol = 2e-2f;
  std::vector<int> inputs;  // which inputs to check; empty: every float32 input
  bool shape_only = false;  // no gradient (non-differentiable helper ops)
  bool unknown_first_dim = false;  // placeholders get -1 as their first dim
  uint32_t seed = 7;
};

struct GradCheckResult {
  bool ok = false;
  double max_error = 0;    // largest |symbolic - numeric| seen
  std::string report;      // what failed, for INFO()
};

using BuildFn = std::function<Output(Graph& g, const std::vector<Output>& inputs)>;

GradCheckResult CheckOp(const OpRegistry& registry, ThreadPool* pool, const BuildFn& build,
                        const std::vector<Tensor>& inputs, const GradCheckOptions& options = {});

// Distinct values (spaced by `spacing`, shuffled): for max-type ops, whose
// gradient is defined only without ties.
Tensor DistinctTensor(Shape shape, uint32_t seed, float spacing = 0.1f);
// Values with |v| in [0.2, 1]: away from the kink of Relu.
Tensor AwayFromZeroTensor(Shape shape, uint32_t seed);

}  // namespace flowps::testing

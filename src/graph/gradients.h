// Symbolic differentiation: adds to the graph the nodes that compute the
// gradient of a loss with respect to some of its inputs.
#pragma once

#include <vector>

#include "core/status.h"
#include "graph/graph.h"
#include "graph/op_registry.h"

namespace flowps {

// d(sum of loss)/d(x) for each x, added under the name scope "gradients".
// Walks the graph backwards from `loss` in reverse topological order, calling
// each op's gradient function; the gradients reaching one tensor from several
// consumers are summed (dense + dense: Add; sparse + sparse: the rows are
// concatenated; sparse + dense: densified, then added). The gradient of a
// Gather's params stays sparse. An x that `loss` does not depend on gets an
// invalid GradValue. An op without a gradient on a path from loss to an x is
// an InvalidArgument naming the node.
// Each op's gradient nodes (and the sum of the gradients reaching its outputs)
// request the op's requested device, as TensorFlow's
// colocate_gradients_with_ops: a layer placed on a device runs its backward
// pass there. Otherwise they take the graph's current device scope.
StatusOr<std::vector<GradValue>> Gradients(Output loss, const std::vector<Output>& xs);

// The dense form of a gradient of `like` (a sparse one is scattered into zeros).
Output DenseGradient(const GradValue& grad, Output like);

}  // namespace flowps

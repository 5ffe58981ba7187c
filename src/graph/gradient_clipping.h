// Gradient clipping by global norm (TensorFlow's tf.clip_by_global_norm), as a
// graph function any job can put between Gradients() and its optimizer:
//
//   global_norm = sqrt(sum over every gradient g of sum(g^2))
//   g' = g * clip_norm / max(global_norm, clip_norm)
//
// so the gradients keep their direction and their global norm is at most
// clip_norm. A sparse gradient (Gather's rows) counts and scales its values.
// A NaN or infinite global norm makes every clipped gradient NaN, as in
// TensorFlow: a diverging step stays visible instead of being clipped to a
// finite one. Builds nodes in the graph of the first valid gradient; errors
// (clip_norm not positive and finite) are recorded in that graph's status.
// Not thread-safe (like every builder call).
#pragma once

#include <vector>

#include "graph/gradients.h"
#include "graph/ops.h"

namespace flowps {

struct ClippedGradients {
  std::vector<GradValue> grads;  // one per input, invalid where the input was
  Output global_norm;            // float32 scalar, before clipping
};
ClippedGradients ClipByGlobalNorm(const std::vector<GradValue>& grads, float clip_norm);

// The same on dense gradients.
std::vector<Output> ClipByGlobalNorm(const std::vector<Output>& grads, float clip_norm,
                                     Output* global_norm = nullptr);

}  // namespace flowps

#include "graph/gradient_clipping.h"

#include <cmath>

namespace flowps {
namespace {

// The tensor whose squares a gradient contributes: its values when sparse.
Output Contribution(const GradValue& g) { return g.sparse() ? g.values : g.dense; }

}  // namespace

ClippedGradients ClipByGlobalNorm(const std::vector<GradValue>& grads, float clip_norm) {
  ClippedGradients out;
  out.grads = grads;
  Graph* g = nullptr;
  Output sum_sq;
  for (const GradValue& v : grads) {
    if (!v.valid()) continue;
    const Output c = Contribution(v);
    if (g == nullptr) g = c.graph();
    const Output sq = ReduceSum(Square(c));
    sum_sq = sum_sq.valid() ? sum_sq + sq : sq;
  }
  if (g == nullptr) return out;
  if (!(clip_norm > 0.f) || !std::isfinite(clip_norm)) {
    g->RecordError(InvalidArgument("ClipByGlobalNorm: clip_norm " + std::to_string(clip_norm) +
                                   " is not a positive finite number"));
    return out;
  }
  NameScope scope(*g, "clip_by_global_norm");
  out.global_norm = Sqrt(sum_sq);
  // norm + (norm - norm) is norm when finite and NaN when infinite (or NaN);
  // ReduceMax propagates NaN, so the scale is then NaN too.
  const Output finite_or_nan = out.global_norm + (out.global_norm - out.global_norm);
  const Output clip = Const(*g, Tensor::FromVector<float>(Shape{1}, {clip_norm}));
  const Output larger = ReduceMax(Concat({Reshape(finite_or_nan, Shape{1}), clip}, 0));
  const Output scale = Const(*g, clip_norm) / larger;
  for (GradValue& v : out.grads) {
    if (!v.valid()) continue;
    if (v.sparse()) v.values = v.values * scale;
    else v.dense = v.dense * scale;
  }
  return out;
}

std::vector<Output> ClipByGlobalNorm(const std::vector<Output>& grads, float clip_norm, Output* global_norm) {
  std::vector<GradValue> values;
  for (const Output& d : grads) values.push_back(GradValue{d, {}, {}, {}});
  ClippedGradients clipped = ClipByGlobalNorm(values, clip_norm);
  if (global_norm != nullptr) *global_norm = clipped.global_norm;
  std::vector<Output> out;
  for (const GradValue& v : clipped.grads) out.push_back(v.dense);
  return out;
}

}  // namespace flowps

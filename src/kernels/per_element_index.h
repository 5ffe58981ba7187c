// Builds the fixed-size index records of per_element.h from shapes, checking
// that the shapes fit (rank <= kMaxElementRank, broadcastable, windows fit).
// Host code; pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/nn_kernels.h"
#include "kernels/per_element.h"

namespace flowps::kernels {

// Broadcasting a (and b) to `out`. REQUIRES: a and b broadcast to out.
StatusOr<BroadcastIndex> MakeBroadcastIndex(const Shape& out, const Shape& a, const Shape& b);
// Reducing `in` over normalised `axes` (empty: none).
StatusOr<ReduceIndex> MakeReduceIndex(const Shape& in, const std::vector<int64_t>& axes);
// The axes of x that SumToShape(x, target) sums over (target aligned right).
StatusOr<std::vector<int64_t>> SumToShapeAxes(const Shape& x, const Shape& target);
// The box of `dims` at `begin` inside a tensor of shape `whole`.
StatusOr<Box> MakeBox(const Shape& whole, const std::vector<int64_t>& begin, const Shape& dims);
// The geometry of a window op over NHWC `x` with `out_channels` outputs.
StatusOr<WindowGeometry> MakeWindowGeometry(const Shape& x, const Window& w, int64_t out_channels);

}  // namespace flowps::kernels

// Shape arithmetic shared by the kernels and the shape functions: numpy
// broadcasting, row-major strides, and a walk over an index space that hands
// out one contiguous innermost row at a time. Header-only, no Eigen.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace flowps::kernels {

// The numpy broadcast of two shapes. Unknown dims (-1) are allowed (shape
// inference): an unknown against 1 or unknown stays unknown, against k > 1 is k.
StatusOr<Shape> BroadcastShape(const Shape& a, const Shape& b);

// Row-major strides (in elements) of `shape`.
std::vector<int64_t> RowMajorStrides(const Shape& shape);

// Strides for reading a tensor of shape `in` while walking the index space of
// `out` (same rank or lower, aligned right): 0 along broadcast dimensions.
// REQUIRES: `in` broadcasts to `out`.
std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out);

// Walks the index space `dims` in row-major order, one innermost row at a
// time: fn(linear_start, offsets, row_length, inner_strides), where offsets[k]
// is operand k's element offset at the row start (from its `strides[k]`) and
// inner_strides[k] its stride along the innermost dimension.
template <size_t K, typename Fn>
void ForEachRow(const std::vector<int64_t>& dims, const std::array<std::vector<int64_t>, K>& strides,
                Fn&& fn) {
  const int r = static_cast<int>(dims.size());
  std::array<int64_t, K> off{};
  std::array<int64_t, K> inner{};
  if (r == 0) {
    fn(int64_t{0}, off, int64_t{1}, inner);
    return;
  }
  for (int64_t d : dims)
    if (d == 0) return;
  const int64_t len = dims[r - 1];
  for (size_t k = 0; k < K; ++k) inner[k] = strides[k][r - 1];
  int64_t rows = 1;
  for (int d = 0; d < r - 1; ++d) rows *= dims[d];
  std::vector<int64_t> idx(r, 0);
  for (int64_t row = 0; row < rows; ++row) {
    fn(row * len, off, len, inner);
    for (int d = r - 2; d >= 0; --d) {
      for (size_t k = 0; k < K; ++k) off[k] += strides[k][d];
      if (++idx[d] < dims[d]) break;
      for (size_t k = 0; k < K; ++k) off[k] -= strides[k][d] * dims[d];
      idx[d] = 0;
    }
  }
}

}  // namespace flowps::kernels

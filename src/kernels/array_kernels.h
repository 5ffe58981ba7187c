// Kernels that move elements without arithmetic (any dtype, by element size),
// plus the row scatter that densifies a sparse gradient. Pure functions, safe
// to call from many threads; bad indices are an InvalidArgument naming them.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace flowps::kernels {

// out[i_0..i_r] = x[i_perm[0] ..]: out.dim(d) == x.dim(perm[d]).
StatusOr<Tensor> Transpose(const Tensor& x, const std::vector<int64_t>& perm);

// Concatenation along `axis` (normalised). All parts share dtype and the other dims.
StatusOr<Tensor> Concat(const std::vector<Tensor>& parts, int axis);

// Resolves begin/size against `shape`: size -1 means "to the end". Unknown
// dims of `shape` (shape inference) give unknown output dims.
StatusOr<Shape> SliceShape(const Shape& shape, const std::vector<int64_t>& begin,
                           const std::vector<int64_t>& size);
StatusOr<Tensor> Slice(const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& size);
// x cut into `num` equal parts along `axis` (normalised): InvalidArgument
// unless num >= 1 divides x's dim there.
StatusOr<std::vector<Tensor>> Split(const Tensor& x, int64_t num, int axis);
// The shape of each part of Split; an unknown dim along `axis` stays unknown.
StatusOr<Shape> SplitShape(const Shape& x, int64_t num, int axis);
// Zeros of `x_shape` with dy written at `begin` (the gradient of Slice).
StatusOr<Tensor> SliceGrad(const Tensor& dy, const Shape& x_shape, const std::vector<int64_t>& begin);

// Rows of params picked by indices (int32 or int64, any rank):
// out.shape = indices.shape ++ params.shape[1:].
StatusOr<Tensor> Gather(const Tensor& params, const Tensor& indices);
// A float32 tensor of `dense_shape`, zero except rows indices[i] += values[i]
// (repeated indices add up). values.shape = indices.shape ++ dense_shape[1:].
StatusOr<Tensor> ScatterRowsAdd(const Tensor& indices, const Tensor& values, const Shape& dense_shape);

// Segments of rows, as a ragged batch holds them: `offsets` is int64
// [batch + 1], offsets[0] = 0, non-decreasing, offsets[batch] = rows of
// `values`; example i owns rows [offsets[i], offsets[i+1]).
// SegmentCombine: out[i] = the sum (mean: the mean; an empty segment gives
// zeros) of example i's rows of float32 `values` [rows, d...]; [batch, d...].
StatusOr<Tensor> SegmentCombine(const Tensor& values, const Tensor& offsets, bool mean);
// Its adjoint: each row r of example i gets per_example[i] (mean: divided by
// the segment's length); [rows, d...] from per_example [batch, d...] and the
// number of rows `rows`.
StatusOr<Tensor> SegmentExpand(const Tensor& per_example, const Tensor& offsets, bool mean);

// x converted to `to` (float32, int32 or int64; float to int truncates).
StatusOr<Tensor> Cast(const Tensor& x, DType to);

// Index tensor (int32/int64) as int64 values.
std::vector<int64_t> IndicesAsInt64(const Tensor& indices);

}  // namespace flowps::kernels

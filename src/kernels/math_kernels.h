// Element-wise, reduction and matrix kernels on float32 core::Tensors (Eigen
// behind the scenes). Pure functions: inputs are read, outputs freshly
// allocated; safe to call from many threads at once. Shapes are checked here
// too (a shape may be known only when the step runs) and a mismatch is an
// InvalidArgument saying what did not fit.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace flowps {
class ThreadPool;
}

namespace flowps::kernels {

enum class UnaryOp { kNeg, kSquare, kSqrt, kExp, kLog, kRelu, kSigmoid, kTanh };
Tensor Unary(UnaryOp op, const Tensor& x);

// Binary ops with numpy broadcasting. The *Grad ops take TensorFlow's argument
// order: ReluGrad(dy, x), SigmoidGrad(y, dy), TanhGrad(y, dy), SqrtGrad(y, dy).
enum class BinaryOp { kAdd, kSub, kMul, kDiv, kReluGrad, kSigmoidGrad, kTanhGrad, kSqrtGrad };
StatusOr<Tensor> Binary(BinaryOp op, const Tensor& a, const Tensor& b);

// Normalises reduction axes against `rank` (negative counts from the end); an
// empty list means all axes. Sorted, unique; InvalidArgument if out of range.
StatusOr<std::vector<int64_t>> NormalizeAxes(const std::vector<int64_t>& axes, int rank);
// The shape after reducing `axes` (normalised) of `in`; unknown dims allowed.
Shape ReducedShape(const Shape& in, const std::vector<int64_t>& axes, bool keep_dims);

enum class ReduceOp { kSum, kMean, kMax };
// The sum of x[0..n) in pairwise order (rounding error O(log n), not O(n)).
float PairwiseSumOf(const float* x, int64_t n);
// REQUIRES: axes normalised.
Tensor Reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& axes, bool keep_dims);
// The gradient of a sum (or, with `mean`, a mean) over `axes`: dy spread back
// over `x_shape`. dy has the reduced shape, with or without kept dims.
StatusOr<Tensor> ExpandReduced(const Tensor& dy, const Shape& x_shape, const std::vector<int64_t>& axes,
                               bool mean);
// The gradient of a max over `axes`: dy shared among the positions that hold the max.
StatusOr<Tensor> ReduceMaxGrad(const Tensor& x, const Tensor& y, const Tensor& dy,
                               const std::vector<int64_t>& axes);
// Sums x down to `target` (the inverse of broadcasting target to x's shape).
StatusOr<Tensor> SumToShape(const Tensor& x, const Shape& target);
// Broadcasts x to `target` (copying).
StatusOr<Tensor> BroadcastTo(const Tensor& x, const Shape& target);

// The index (int64) of the largest element along `axis` (normalised); the
// first one on ties. The axis is removed from the shape.
StatusOr<Tensor> ArgMax(const Tensor& x, int axis);

// The GEMM behind MatMul. kAuto picks OpenBLAS when flowps was built with it
// (meson option `blas`, on by default where libopenblas-dev is installed) and
// Eigen's own GEMM otherwise; the others force one (kBlas falls back to Eigen
// when built without OpenBLAS). See docs/PERFORMANCE.md#matmul for the figures.
enum class MatMulEngine { kAuto, kEigen, kBlas };
// True when this build links OpenBLAS.
bool HaveBlas();

// C = op(A) op(B), op transposing when asked. Rank 2. A large product is cut
// into one block of rows (or columns) of C per thread of `pool` (may be null:
// the calling thread only), each block one single-threaded GEMM, so MatMul
// uses exactly the pool's threads: OpenBLAS's own threads are never used (the
// first BLAS call sets OpenBLAS to 1 thread for the whole process).
StatusOr<Tensor> MatMul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b,
                        ThreadPool* pool, MatMulEngine engine = MatMulEngine::kAuto);

}  // namespace flowps::kernels

#include "kernels/math_kernels.h"

#include <Eigen/Core>
#include <algorithm>
#include <limits>

#include "core/thread_pool.h"
#include "kernels/array_kernels.h"
#include "kernels/blas_config.h"
#include "kernels/elementwise_functors.h"
#include "kernels/parallel_for.h"
#include "kernels/per_element_index.h"
#include "kernels/strided.h"

#if FLOWPS_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace flowps::kernels {
namespace {

using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;
using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

ConstArrayMap In(const Tensor& t) { return ConstArrayMap(t.data<float>(), t.num_elements()); }
Eigen::Map<Eigen::ArrayXf> Out(Tensor& t) { return Eigen::Map<Eigen::ArrayXf>(t.data<float>(), t.num_elements()); }

template <typename F>
StatusOr<Tensor> Broadcasting(const Tensor& a, const Tensor& b, F f) {
  FLOWPS_ASSIGN_OR_RETURN(Shape shape, BroadcastShape(a.shape(), b.shape()));
  Tensor out(DType::kFloat32, shape);
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* po = out.data<float>();
  ForEachRow<2>(shape.dims(), {BroadcastStrides(a.shape(), shape), BroadcastStrides(b.shape(), shape)},
                [&](int64_t start, const std::array<int64_t, 2>& off, int64_t len,
                    const std::array<int64_t, 2>& inner) {
                  const float* x = pa + off[0];
                  const float* y = pb + off[1];
                  float* o = po + start;
                  if (inner[0] == 1 && inner[1] == 1) {
                    for (int64_t i = 0; i < len; ++i) o[i] = f(x[i], y[i]);
                  } else if (inner[0] == 0) {
                    for (int64_t i = 0; i < len; ++i) o[i] = f(x[0], y[i * inner[1]]);
                  } else {
                    for (int64_t i = 0; i < len; ++i) o[i] = f(x[i * inner[0]], y[i * inner[1]]);
                  }
                });
  return out;
}

// Same shapes: Eigen's vectorised expression `e`, or the functor.
template <typename F, typename E>
StatusOr<Tensor> BinaryWith(const Tensor& a, const Tensor& b, F f, E eigen_expr) {
  if (a.shape() != b.shape()) return Broadcasting(a, b, f);
  Tensor out(DType::kFloat32, a.shape());
  Out(out) = eigen_expr(In(a), In(b));
  return out;
}

template <typename F>
StatusOr<Tensor> BinaryFunctor(const Tensor& a, const Tensor& b, F f) {
  return BinaryWith(a, b, f, [&](const auto& x, const auto& y) { return x.binaryExpr(y, f); });
}

// ---- Reductions: pairwise order, so a float32 sum of n values is off by
// O(log n) roundings, not O(n) as in one sequential chain. ----

// f over x[0..n) (contiguous), init when n == 0. Halves recursively down to
// blocks of at most 256, each summed in 8 independent lanes (vectorisable).
template <typename F>
float ReduceRow(const float* x, int64_t n, float init, F f) {
  if (n > 256) {
    const int64_t half = (n / 2) & ~int64_t{7};
    return f(ReduceRow(x, half, init, f), ReduceRow(x + half, n - half, init, f));
  }
  float lane[8] = {init, init, init, init, init, init, init, init};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) lane[k] = f(lane[k], x[i + k]);
  for (int k = 0; i < n; ++i, ++k) lane[k] = f(lane[k], x[i]);
  return f(f(f(lane[0], lane[1]), f(lane[2], lane[3])), f(f(lane[4], lane[5]), f(lane[6], lane[7])));
}

// out[0..width) = f over the `rows` rows of x [rows, width] (row-major), init
// when rows == 0. Halves the rows recursively; `scratch` holds width floats
// per level of recursion (ColumnScratch).
template <typename F>
void ReduceColumns(const float* x, int64_t rows, int64_t width, float init, F f, float* out, float* scratch) {
  if (rows <= 16) {
    if (rows == 0) std::fill_n(out, width, init);
    else std::copy_n(x, width, out);
    for (int64_t r = 1; r < rows; ++r)
      for (int64_t k = 0; k < width; ++k) out[k] = f(out[k], x[r * width + k]);
    return;
  }
  const int64_t half = rows / 2;
  ReduceColumns(x, half, width, init, f, out, scratch);
  ReduceColumns(x + half * width, rows - half, width, init, f, scratch, scratch + width);
  for (int64_t k = 0; k < width; ++k) out[k] = f(out[k], scratch[k]);
}

int64_t ColumnScratch(int64_t rows, int64_t width) {
  int64_t levels = 1;
  for (int64_t r = rows; r > 16; r = (r + 1) / 2) ++levels;
  return levels * width;
}

// x reduced by f over normalised `axes`, in the shape with the reduced dims
// kept as 1. Adjacent dims of one kind are merged: one run of reduced dims
// [K1, R, K2] is reduced in place; more runs are first transposed to [K, R].
template <typename F>
Tensor ReduceToKept(const Tensor& x, const std::vector<int64_t>& axes, float init, F f) {
  const Shape& s = x.shape();
  const Shape kept = ReducedShape(s, axes, true);
  std::vector<int64_t> sizes;  // merged groups, alternating kind
  std::vector<bool> reduced;
  for (int d = 0; d < s.rank(); ++d) {
    if (s.dim(d) == 1) continue;
    const bool r = std::find(axes.begin(), axes.end(), d) != axes.end();
    if (!reduced.empty() && reduced.back() == r) sizes.back() *= s.dim(d);
    else sizes.push_back(s.dim(d)), reduced.push_back(r);
  }
  Tensor src = x;
  int64_t k1 = 1, r = 1, k2 = 1;
  const int64_t runs = std::count(reduced.begin(), reduced.end(), true);
  if (runs > 1) {
    std::vector<int64_t> perm;
    for (int d = 0; d < s.rank(); ++d)
      if (std::find(axes.begin(), axes.end(), d) == axes.end()) perm.push_back(d);
    for (int64_t a : axes) perm.push_back(a);
    src = *Transpose(x, perm);
    k1 = kept.num_elements();
    r = k1 == 0 ? 0 : x.num_elements() / k1;
  } else {
    bool after = false;
    for (size_t g = 0; g < sizes.size(); ++g) {
      if (reduced[g]) r = sizes[g], after = true;
      else (after ? k2 : k1) *= sizes[g];
    }
  }
  Tensor out(DType::kFloat32, kept);
  const float* px = src.data<float>();
  float* po = out.data<float>();
  if (k2 == 1) {
    for (int64_t i = 0; i < k1; ++i) po[i] = ReduceRow(px + i * r, r, init, f);
  } else {
    std::vector<float> scratch(ColumnScratch(r, k2));
    for (int64_t i = 0; i < k1; ++i) ReduceColumns(px + i * r * k2, r, k2, init, f, po + i * k2, scratch.data());
  }
  return out;
}

Tensor SumToKept(const Tensor& x, const std::vector<int64_t>& axes) { return ReduceToKept(x, axes, 0.f, AddFn()); }

Shape KeptShape(const Shape& in, const std::vector<int64_t>& axes) { return ReducedShape(in, axes, true); }

}  // namespace

Tensor Unary(UnaryOp op, const Tensor& x) {
  Tensor out(DType::kFloat32, x.shape());
  auto o = Out(out);
  auto in = In(x);
  switch (op) {
    case UnaryOp::kNeg: o = -in; break;
    case UnaryOp::kSquare: o = in.square(); break;
    case UnaryOp::kSqrt: o = in.sqrt(); break;
    case UnaryOp::kExp: o = in.exp(); break;
    case UnaryOp::kLog: o = in.log(); break;
    case UnaryOp::kRelu: o = in.unaryExpr(ReluFn()); break;  // NaN stays NaN
    case UnaryOp::kSigmoid: o = in.unaryExpr(SigmoidFn()); break;
    case UnaryOp::kTanh: o = in.tanh(); break;
  }
  return out;
}

StatusOr<Tensor> Binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  switch (op) {
    case BinaryOp::kAdd: return BinaryWith(a, b, AddFn(), [](const auto& x, const auto& y) { return x + y; });
    case BinaryOp::kSub: return BinaryWith(a, b, SubFn(), [](const auto& x, const auto& y) { return x - y; });
    case BinaryOp::kMul: return BinaryWith(a, b, MulFn(), [](const auto& x, const auto& y) { return x * y; });
    case BinaryOp::kDiv: return BinaryWith(a, b, DivFn(), [](const auto& x, const auto& y) { return x / y; });
    case BinaryOp::kReluGrad: return BinaryFunctor(a, b, ReluGradFn());
    case BinaryOp::kSigmoidGrad: return BinaryFunctor(a, b, SigmoidGradFn());
    case BinaryOp::kTanhGrad: return BinaryFunctor(a, b, TanhGradFn());
    case BinaryOp::kSqrtGrad: return BinaryFunctor(a, b, SqrtGradFn());
  }
  return Internal("unknown binary op");
}

StatusOr<std::vector<int64_t>> NormalizeAxes(const std::vector<int64_t>& axes, int rank) {
  std::vector<int64_t> out;
  if (axes.empty()) {
    for (int i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  for (int64_t a : axes) {
    int64_t n = a < 0 ? a + rank : a;
    if (n < 0 || n >= rank)
      return InvalidArgument("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
    out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Shape ReducedShape(const Shape& in, const std::vector<int64_t>& axes, bool keep_dims) {
  std::vector<int64_t> dims;
  for (int i = 0; i < in.rank(); ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (!reduced) dims.push_back(in.dim(i));
    else if (keep_dims) dims.push_back(1);
  }
  return Shape(std::move(dims));
}

float PairwiseSumOf(const float* x, int64_t n) { return ReduceRow(x, n, 0.f, AddFn()); }

Tensor Reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& axes, bool keep_dims) {
  Tensor out = op == ReduceOp::kMax ? ReduceToKept(x, axes, -std::numeric_limits<float>::infinity(), MaxNanFn())
                                    : SumToKept(x, axes);
  if (op == ReduceOp::kMean && out.num_elements() > 0) Out(out) *= float(out.num_elements()) / float(x.num_elements());
  return *out.Reshaped(ReducedShape(x.shape(), axes, keep_dims));
}

StatusOr<Tensor> ExpandReduced(const Tensor& dy, const Shape& x_shape, const std::vector<int64_t>& axes,
                               bool mean) {
  Shape kept = KeptShape(x_shape, axes);
  if (dy.num_elements() != kept.num_elements())
    return InvalidArgument("gradient of shape " + dy.shape().ToString() + " does not fit the reduction of " +
                           x_shape.ToString());
  FLOWPS_ASSIGN_OR_RETURN(Tensor k, dy.Reshaped(kept));
  FLOWPS_ASSIGN_OR_RETURN(Tensor out, BroadcastTo(k, x_shape));
  if (mean && kept.num_elements() > 0 && x_shape.num_elements() > 0)
    Out(out) *= float(kept.num_elements()) / float(x_shape.num_elements());
  return out;
}

StatusOr<Tensor> ReduceMaxGrad(const Tensor& x, const Tensor& y, const Tensor& dy,
                               const std::vector<int64_t>& axes) {
  Shape kept = KeptShape(x.shape(), axes);
  FLOWPS_ASSIGN_OR_RETURN(Tensor yk, y.Reshaped(kept));
  FLOWPS_ASSIGN_OR_RETURN(Tensor dyk, dy.Reshaped(kept));
  FLOWPS_ASSIGN_OR_RETURN(Tensor y_full, BroadcastTo(yk, x.shape()));
  // The positions equal to the max, or NaN where the max is NaN.
  Tensor mask(DType::kFloat32, x.shape());
  Out(mask) = (In(x) == In(y_full) || (In(x) != In(x) && In(y_full) != In(y_full))).cast<float>();
  Tensor counts = SumToKept(mask, axes);
  FLOWPS_ASSIGN_OR_RETURN(Tensor share, Binary(BinaryOp::kDiv, dyk, counts));
  return Binary(BinaryOp::kMul, mask, share);
}

StatusOr<Tensor> SumToShape(const Tensor& x, const Shape& target) {
  if (target.rank() > x.shape().rank())
    return InvalidArgument("cannot sum " + x.shape().ToString() + " down to " + target.ToString());
  FLOWPS_ASSIGN_OR_RETURN(std::vector<int64_t> axes, SumToShapeAxes(x.shape(), target));
  return SumToKept(x, axes).Reshaped(target);
}

StatusOr<Tensor> BroadcastTo(const Tensor& x, const Shape& target) {
  FLOWPS_ASSIGN_OR_RETURN(Shape b, BroadcastShape(x.shape(), target));
  if (b != target) return InvalidArgument("cannot broadcast " + x.shape().ToString() + " to " + target.ToString());
  Tensor out(DType::kFloat32, target);
  const float* px = x.data<float>();
  float* po = out.data<float>();
  ForEachRow<1>(target.dims(), {BroadcastStrides(x.shape(), target)},
                [&](int64_t start, const std::array<int64_t, 1>& off, int64_t len,
                    const std::array<int64_t, 1>& inner) {
                  for (int64_t i = 0; i < len; ++i) po[start + i] = px[off[0] + i * inner[0]];
                });
  return out;
}

StatusOr<Tensor> ArgMax(const Tensor& x, int axis) {
  const Shape& s = x.shape();
  if (axis < 0 || axis >= s.rank()) return InvalidArgument("ArgMax axis out of range for " + s.ToString());
  if (s.dim(axis) == 0) return InvalidArgument("ArgMax over an empty axis of " + s.ToString());
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= s.dim(d);
  for (int d = axis + 1; d < s.rank(); ++d) inner *= s.dim(d);
  const int64_t n = s.dim(axis);
  std::vector<int64_t> dims = s.dims();
  dims.erase(dims.begin() + axis);
  Tensor out(DType::kInt64, Shape(dims));
  const float* px = x.data<float>();
  int64_t* po = out.data<int64_t>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const float* row = px + o * n * inner + i;
      int64_t best = 0;
      for (int64_t k = 1; k < n; ++k)
        if (TakesMax(row[k * inner], row[best * inner])) best = k;
      po[o * inner + i] = best;
    }
  return out;
}

namespace {

// One GEMM: rows [r0, r0 + rows) and columns [c0, c0 + cols) of C = op(A) op(B),
// the whole inner dimension. Shapes were checked by MatMul.
struct GemmProblem {
  const Tensor& a;
  const Tensor& b;
  bool ta, tb;
  int64_t k;
  float* c;
  int64_t ldc;
};

void EigenGemmBlock(const GemmProblem& p, int64_t r0, int64_t rows, int64_t c0, int64_t cols) {
  Eigen::Map<const RowMatrix> A(p.a.data<float>(), p.a.shape().dim(0), p.a.shape().dim(1));
  Eigen::Map<const RowMatrix> B(p.b.data<float>(), p.b.shape().dim(0), p.b.shape().dim(1));
  Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>> C(p.c + r0 * p.ldc + c0, rows, cols, Eigen::OuterStride<>(p.ldc));
  if (!p.ta && !p.tb) C.noalias() = A.middleRows(r0, rows) * B.middleCols(c0, cols);
  else if (!p.ta) C.noalias() = A.middleRows(r0, rows) * B.middleRows(c0, cols).transpose();
  else if (!p.tb) C.noalias() = A.middleCols(r0, rows).transpose() * B.middleCols(c0, cols);
  else C.noalias() = A.middleCols(r0, rows).transpose() * B.middleRows(c0, cols).transpose();
}

#if FLOWPS_HAVE_OPENBLAS
void BlasGemmBlock(const GemmProblem& p, int64_t r0, int64_t rows, int64_t c0, int64_t cols) {
  // OpenBLAS keeps one process-wide thread count; MatMul brings its own
  // threads (the pool), so OpenBLAS must run on the caller only.
  static const bool single_threaded = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)single_threaded;
  const int64_t lda = p.a.shape().dim(1), ldb = p.b.shape().dim(1);
  // Row r of op(A): row r of A, or column r of A when transposed (likewise for op(B)'s columns).
  const float* a = p.a.data<float>() + (p.ta ? r0 : r0 * lda);
  const float* b = p.b.data<float>() + (p.tb ? c0 * ldb : c0);
  cblas_sgemm(CblasRowMajor, p.ta ? CblasTrans : CblasNoTrans, p.tb ? CblasTrans : CblasNoTrans, rows, cols, p.k,
              1.f, a, lda, b, ldb, 0.f, p.c + r0 * p.ldc + c0, p.ldc);
}
#endif

}  // namespace

bool HaveBlas() { return FLOWPS_HAVE_OPENBLAS; }

StatusOr<Tensor> MatMul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b,
                        ThreadPool* pool, MatMulEngine engine) {
  if (a.shape().rank() != 2 || b.shape().rank() != 2)
    return InvalidArgument("MatMul needs rank-2 operands, got " + a.shape().ToString() + " and " +
                           b.shape().ToString());
  const int64_t m = transpose_a ? a.shape().dim(1) : a.shape().dim(0);
  const int64_t k = transpose_a ? a.shape().dim(0) : a.shape().dim(1);
  const int64_t kb = transpose_b ? b.shape().dim(1) : b.shape().dim(0);
  const int64_t n = transpose_b ? b.shape().dim(0) : b.shape().dim(1);
  if (k != kb)
    return InvalidArgument("MatMul inner dimensions differ: " + a.shape().ToString() +
                           (transpose_a ? "^T" : "") + " x " + b.shape().ToString() + (transpose_b ? "^T" : ""));
  Tensor out(DType::kFloat32, Shape{m, n});
  if (m == 0 || n == 0) return out;
  if (k == 0) {
    std::fill_n(out.data<float>(), m * n, 0.f);
    return out;
  }
  const GemmProblem p{a, b, transpose_a, transpose_b, k, out.data<float>(), n};
  auto gemm = EigenGemmBlock;
#if FLOWPS_HAVE_OPENBLAS
  if (engine != MatMulEngine::kEigen) gemm = BlasGemmBlock;
#endif
  // C in blocks of rows (or, when C is wide and short, of columns), one per thread.
  const int64_t flops = 2 * m * n * k;
  const int64_t threads = pool == nullptr ? 1 : pool->num_threads();
  const bool by_rows = m >= n;
  const int64_t extent = by_rows ? m : n;
  const int64_t blocks =
      flops < (int64_t{1} << 22) ? 1 : std::min<int64_t>(threads, std::max<int64_t>(1, extent / 64));
  const int64_t step = (extent + blocks - 1) / blocks;
  ParallelFor(blocks > 1 ? pool : nullptr, blocks, [&](int64_t i) {
    const int64_t b0 = i * step, len = std::min(step, extent - b0);
    if (len <= 0) return;
    if (by_rows) gemm(p, b0, len, 0, n);
    else gemm(p, 0, m, b0, len);
  });
  return out;
}

}  // namespace flowps::kernels

#include "kernels/math_kernels.h"

#include <Eigen/Core>
#include <algorithm>
#include <limits>

#include "core/thread_pool.h"
#include "kernels/elementwise_functors.h"
#include "kernels/parallel_for.h"
#include "kernels/strided.h"

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

// Accumulates x into an output of `kept` shape (x's rank, 1 along reduced dims).
template <typename Acc>
Tensor ReduceToKept(const Tensor& x, const Shape& kept, float init, Acc acc) {
  Tensor out(DType::kFloat32, kept);
  float* po = out.data<float>();
  std::fill(po, po + out.num_elements(), init);
  const float* px = x.data<float>();
  ForEachRow<1>(x.shape().dims(), {BroadcastStrides(kept, x.shape())},
                [&](int64_t start, const std::array<int64_t, 1>& off, int64_t len,
                    const std::array<int64_t, 1>& inner) {
                  float* o = po + off[0];
                  const float* in = px + start;
                  if (inner[0] == 0) {
                    float a = *o;
                    for (int64_t i = 0; i < len; ++i) a = acc(a, in[i]);
                    *o = a;
                  } else {
                    for (int64_t i = 0; i < len; ++i) o[i] = acc(o[i], in[i]);
                  }
                });
  return out;
}

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
    case UnaryOp::kRelu: o = in.max(0.f); break;
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

Tensor Reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& axes, bool keep_dims) {
  Shape kept = KeptShape(x.shape(), axes);
  Tensor out = op == ReduceOp::kMax
                   ? ReduceToKept(x, kept, -std::numeric_limits<float>::infinity(),
                                  [](float a, float v) { return std::max(a, v); })
                   : ReduceToKept(x, kept, 0.f, [](float a, float v) { return a + v; });
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
  Tensor mask(DType::kFloat32, x.shape());
  Out(mask) = (In(x) == In(y_full)).cast<float>();
  Tensor counts = ReduceToKept(mask, kept, 0.f, [](float a, float v) { return a + v; });
  FLOWPS_ASSIGN_OR_RETURN(Tensor share, Binary(BinaryOp::kDiv, dyk, counts));
  return Binary(BinaryOp::kMul, mask, share);
}

StatusOr<Tensor> SumToShape(const Tensor& x, const Shape& target) {
  if (target.rank() > x.shape().rank())
    return InvalidArgument("cannot sum " + x.shape().ToString() + " down to " + target.ToString());
  std::vector<int64_t> kept(x.shape().rank(), 1);
  for (int i = 0; i < target.rank(); ++i) {
    int j = i + (x.shape().rank() - target.rank());
    if (target.dim(i) != 1 && target.dim(i) != x.shape().dim(j))
      return InvalidArgument("cannot sum " + x.shape().ToString() + " down to " + target.ToString());
    kept[j] = target.dim(i);
  }
  Tensor out = ReduceToKept(x, Shape(kept), 0.f, [](float a, float v) { return a + v; });
  return out.Reshaped(target);
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
        if (row[k * inner] > row[best * inner]) best = k;
      po[o * inner + i] = best;
    }
  return out;
}

StatusOr<Tensor> MatMul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b,
                        ThreadPool* pool) {
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
  Eigen::Map<const RowMatrix> A(a.data<float>(), a.shape().dim(0), a.shape().dim(1));
  Eigen::Map<const RowMatrix> B(b.data<float>(), b.shape().dim(0), b.shape().dim(1));
  Eigen::Map<RowMatrix> C(out.data<float>(), m, n);
  // C in blocks of rows (or, when C is wide and short, of columns); each block
  // is one Eigen GEMM over the matching rows of op(A) (columns of op(B)).
  const int64_t flops = 2 * m * n * k;
  const int64_t threads = pool == nullptr ? 1 : pool->num_threads();
  const bool by_rows = m >= n;
  const int64_t extent = by_rows ? m : n;
  const int64_t blocks =
      flops < (int64_t{1} << 22) ? 1 : std::min<int64_t>(threads, std::max<int64_t>(1, extent / 64));
  const int64_t step = (extent + blocks - 1) / std::max<int64_t>(blocks, 1);
  auto block = [&](int64_t i) {
    const int64_t b0 = i * step, len = std::min(step, extent - b0);
    if (len <= 0) return;
    if (by_rows) {
      auto c = C.middleRows(b0, len);
      if (!transpose_a && !transpose_b) c.noalias() = A.middleRows(b0, len) * B;
      else if (!transpose_a) c.noalias() = A.middleRows(b0, len) * B.transpose();
      else if (!transpose_b) c.noalias() = A.middleCols(b0, len).transpose() * B;
      else c.noalias() = A.middleCols(b0, len).transpose() * B.transpose();
    } else {
      auto c = C.middleCols(b0, len);
      if (!transpose_a && !transpose_b) c.noalias() = A * B.middleCols(b0, len);
      else if (!transpose_a) c.noalias() = A * B.middleRows(b0, len).transpose();
      else if (!transpose_b) c.noalias() = A.transpose() * B.middleCols(b0, len);
      else c.noalias() = A.transpose() * B.middleRows(b0, len).transpose();
    }
  };
  if (k == 0) C.setZero();
  else ParallelFor(blocks > 1 ? pool : nullptr, blocks, block);
  return out;
}

}  // namespace flowps::kernels

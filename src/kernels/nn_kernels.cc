#include "kernels/nn_kernels.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/array_kernels.h"
#include "kernels/elementwise_functors.h"
#include "kernels/math_kernels.h"
#include "kernels/per_element.h"

namespace flowps::kernels {
namespace {

using RowArray = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The full geometry of one conv/pool call.
struct Geometry {
  int64_t n, h, w, c, oh, ow, pad_top, pad_left;
};

StatusOr<Geometry> MakeGeometry(const Shape& x, const Window& win) {
  if (x.rank() != 4) return InvalidArgument("expected NHWC input of rank 4, got " + x.ToString());
  Geometry g{x.dim(0), x.dim(1), x.dim(2), x.dim(3), 0, 0, 0, 0};
  FLOWPS_ASSIGN_OR_RETURN(g.oh, WindowOutputSize(g.h, win.kh, win.sh, win.same, &g.pad_top));
  FLOWPS_ASSIGN_OR_RETURN(g.ow, WindowOutputSize(g.w, win.kw, win.sw, win.same, &g.pad_left));
  return g;
}

// Calls fn(row, col, ih, iw) for every output position (row = n*OH*OW + oh*OW + ow)
// and every in-bounds input pixel of its window (col = window position kh*KW + kw).
template <typename Fn>
void ForEachWindowPixel(const Geometry& g, const Window& win, Fn fn) {
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t oh = 0; oh < g.oh; ++oh)
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        const int64_t row = (n * g.oh + oh) * g.ow + ow;
        for (int64_t i = 0; i < win.kh; ++i) {
          const int64_t ih = oh * win.sh - g.pad_top + i;
          if (ih < 0 || ih >= g.h) continue;
          for (int64_t j = 0; j < win.kw; ++j) {
            const int64_t iw = ow * win.sw - g.pad_left + j;
            if (iw < 0 || iw >= g.w) continue;
            fn(n, row, i * win.kw + j, ih, iw);
          }
        }
      }
}

// Patches of x as rows: [N*OH*OW, KH*KW*C], zero where the window is padding.
RowMatrix Im2Col(const Tensor& x, const Geometry& g, const Window& win) {
  RowMatrix cols = RowMatrix::Zero(g.n * g.oh * g.ow, win.kh * win.kw * g.c);
  const float* px = x.data<float>();
  ForEachWindowPixel(g, win, [&](int64_t n, int64_t row, int64_t k, int64_t ih, int64_t iw) {
    std::copy_n(px + ((n * g.h + ih) * g.w + iw) * g.c, g.c, cols.data() + row * cols.cols() + k * g.c);
  });
  return cols;
}

}  // namespace

Tensor Softmax(const Tensor& logits) {
  const int64_t c = logits.shape().rank() == 0 ? 1 : logits.shape().dim(logits.shape().rank() - 1);
  const int64_t rows = c == 0 ? 0 : logits.num_elements() / c;
  Tensor out(DType::kFloat32, logits.shape());
  Eigen::Map<const RowArray> x(logits.data<float>(), rows, c);
  Eigen::Map<RowArray> y(out.data<float>(), rows, c);
  y = (x.colwise() - x.rowwise().maxCoeff()).exp();
  for (int64_t i = 0; i < rows; ++i) y.row(i) /= PairwiseSumOf(out.data<float>() + i * c, c);
  return out;
}

Status CheckLogitsAndLabels(const Shape& logits, const Shape& labels) {
  if (logits.rank() != 2 || labels.rank() != 1 || labels.dim(0) != logits.dim(0))
    return InvalidArgument("expected logits [N,C] and labels [N], got " + logits.ToString() + " and " +
                           labels.ToString());
  return Status::OK();
}

StatusOr<CrossEntropy> SparseSoftmaxCrossEntropy(const Tensor& logits, const Tensor& labels) {
  FLOWPS_RETURN_IF_ERROR(CheckLogitsAndLabels(logits.shape(), labels.shape()));
  const int64_t n = logits.shape().dim(0), c = logits.shape().dim(1);
  std::vector<int64_t> lab = IndicesAsInt64(labels);
  for (int64_t i = 0; i < n; ++i)
    if (lab[i] < 0 || lab[i] >= c)
      return InvalidArgument("label " + std::to_string(lab[i]) + " of example " + std::to_string(i) +
                             " is out of range [0, " + std::to_string(c) + ")");
  CrossEntropy r{Tensor(DType::kFloat32, Shape{n}), Tensor(DType::kFloat32, Shape{n, c})};
  Eigen::Map<const RowArray> x(logits.data<float>(), n, c);
  Eigen::Map<RowArray> p(r.backprop.data<float>(), n, c);
  Eigen::ArrayXf m = x.rowwise().maxCoeff();
  p = (x.colwise() - m).exp();
  Eigen::ArrayXf sum(n);
  for (int64_t i = 0; i < n; ++i) sum(i) = PairwiseSumOf(r.backprop.data<float>() + i * c, c);
  p.colwise() /= sum;
  float* loss = r.loss.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    loss[i] = std::log(sum(i)) - (x(i, lab[i]) - m(i));
    p(i, lab[i]) -= 1.f;
  }
  return r;
}

Tensor LogSumExp(const Tensor& x) {
  const int rank = x.shape().rank();
  const int64_t c = rank == 0 ? 1 : x.shape().dim(rank - 1);
  std::vector<int64_t> dims = x.shape().dims();
  if (rank == 0) dims.push_back(1);
  dims.back() = 1;
  Tensor out(DType::kFloat32, Shape(dims));
  const int64_t rows = out.num_elements();
  for (int64_t i = 0; i < rows; ++i) out.data<float>()[i] = LogSumExpRow(x.data<float>() + i * c, c);
  return out;
}

namespace {

template <typename Index>
Status PickRows(const Tensor& x, const Index* labels, int64_t offset, int64_t vocab, float* out) {
  const int64_t n = x.shape().dim(0), c = x.shape().dim(1);
  for (int64_t i = 0; i < n; ++i) {
    bool bad = false;
    out[i] = PickColumnAt(x.data<float>(), c, labels, offset, vocab, i, &bad);
    if (bad)
      return InvalidArgument("label " + std::to_string(static_cast<int64_t>(labels[i])) + " of example " +
                             std::to_string(i) + " is out of range [0, " + std::to_string(vocab) + ")");
  }
  return Status::OK();
}

template <typename Index>
void PickGradRows(const float* dy, const Index* labels, int64_t c, int64_t offset, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = PickColumnGradAt(dy, c, labels, offset, i);
}

}  // namespace

StatusOr<Tensor> PickColumn(const Tensor& x, const Tensor& labels, int64_t offset, int64_t vocab) {
  FLOWPS_RETURN_IF_ERROR(CheckLogitsAndLabels(x.shape(), labels.shape()));
  Tensor out(DType::kFloat32, Shape{x.shape().dim(0), 1});
  if (labels.dtype() == DType::kInt64)
    FLOWPS_RETURN_IF_ERROR(PickRows(x, labels.data<int64_t>(), offset, vocab, out.data<float>()));
  else
    FLOWPS_RETURN_IF_ERROR(PickRows(x, labels.data<int32_t>(), offset, vocab, out.data<float>()));
  return out;
}

StatusOr<Tensor> PickColumnGrad(const Tensor& dy, const Tensor& labels, const Shape& x_shape, int64_t offset) {
  FLOWPS_RETURN_IF_ERROR(CheckLogitsAndLabels(x_shape, labels.shape()));
  if (dy.num_elements() != x_shape.dim(0))
    return InvalidArgument("dy " + dy.shape().ToString() + " does not fit logits " + x_shape.ToString());
  Tensor dx(DType::kFloat32, x_shape);
  const int64_t c = x_shape.dim(1);
  if (labels.dtype() == DType::kInt64)
    PickGradRows(dy.data<float>(), labels.data<int64_t>(), c, offset, dx.data<float>(), dx.num_elements());
  else
    PickGradRows(dy.data<float>(), labels.data<int32_t>(), c, offset, dx.data<float>(), dx.num_elements());
  return dx;
}

StatusOr<int64_t> WindowOutputSize(int64_t in, int64_t k, int64_t stride, bool same, int64_t* pad_before) {
  if (k < 1 || stride < 1) return InvalidArgument("window sizes and strides must be >= 1");
  *pad_before = 0;
  if (in < 0) return int64_t{-1};
  if (same) {
    const int64_t out = (in + stride - 1) / stride;
    *pad_before = std::max<int64_t>((out - 1) * stride + k - in, 0) / 2;
    return out;
  }
  if (in < k)
    return InvalidArgument("VALID window of " + std::to_string(k) + " does not fit input size " + std::to_string(in));
  return (in - k) / stride + 1;
}

StatusOr<Tensor> Conv2D(const Tensor& x, const Tensor& filter, const Window& w, ThreadPool* pool) {
  const Shape& f = filter.shape();
  if (f.rank() != 4 || f.dim(0) != w.kh || f.dim(1) != w.kw || x.shape().rank() != 4 || f.dim(2) != x.shape().dim(3))
    return InvalidArgument("filter " + f.ToString() + " does not fit input " + x.shape().ToString());
  FLOWPS_ASSIGN_OR_RETURN(Geometry g, MakeGeometry(x.shape(), w));
  RowMatrix cols = Im2Col(x, g, w);
  Tensor fm = *filter.Reshaped(Shape{w.kh * w.kw * g.c, f.dim(3)});
  Tensor colt(DType::kFloat32, Shape{cols.rows(), cols.cols()});
  std::copy_n(cols.data(), cols.size(), colt.data<float>());
  FLOWPS_ASSIGN_OR_RETURN(Tensor y, MatMul(colt, fm, false, false, pool));
  return y.Reshaped(Shape{g.n, g.oh, g.ow, f.dim(3)});
}

StatusOr<Tensor> Conv2DBackpropInput(const Shape& x_shape, const Tensor& filter, const Tensor& dy,
                                     const Window& w, ThreadPool* pool) {
  FLOWPS_ASSIGN_OR_RETURN(Geometry g, MakeGeometry(x_shape, w));
  const int64_t o = filter.shape().dim(3);
  if (dy.shape() != Shape{g.n, g.oh, g.ow, o}) return InvalidArgument("conv gradient has shape " + dy.shape().ToString());
  Tensor dym = *dy.Reshaped(Shape{g.n * g.oh * g.ow, o});
  Tensor fm = *filter.Reshaped(Shape{w.kh * w.kw * g.c, o});
  FLOWPS_ASSIGN_OR_RETURN(Tensor dcols, MatMul(dym, fm, false, true, pool));
  Tensor dx = Tensor::Zeros(DType::kFloat32, x_shape);
  float* pdx = dx.data<float>();
  const float* pc = dcols.data<float>();
  const int64_t width = w.kh * w.kw * g.c;
  ForEachWindowPixel(g, w, [&](int64_t n, int64_t row, int64_t k, int64_t ih, int64_t iw) {
    float* dst = pdx + ((n * g.h + ih) * g.w + iw) * g.c;
    const float* src = pc + row * width + k * g.c;
    for (int64_t c = 0; c < g.c; ++c) dst[c] += src[c];
  });
  return dx;
}

StatusOr<Tensor> Conv2DBackpropFilter(const Tensor& x, const Shape& f_shape, const Tensor& dy, const Window& w,
                                      ThreadPool* pool) {
  FLOWPS_ASSIGN_OR_RETURN(Geometry g, MakeGeometry(x.shape(), w));
  const int64_t o = f_shape.dim(3);
  if (dy.shape() != Shape{g.n, g.oh, g.ow, o}) return InvalidArgument("conv gradient has shape " + dy.shape().ToString());
  RowMatrix cols = Im2Col(x, g, w);
  Tensor colt(DType::kFloat32, Shape{cols.rows(), cols.cols()});
  std::copy_n(cols.data(), cols.size(), colt.data<float>());
  Tensor dym = *dy.Reshaped(Shape{g.n * g.oh * g.ow, o});
  FLOWPS_ASSIGN_OR_RETURN(Tensor dw, MatMul(colt, dym, true, false, pool));
  return dw.Reshaped(f_shape);
}

namespace {
// For each output element of a max pool, the flat input index of its max.
std::vector<int64_t> PoolArgMax(const Tensor& x, const Geometry& g, const Window& w) {
  std::vector<int64_t> arg(g.n * g.oh * g.ow * g.c, -1);
  const float* px = x.data<float>();
  ForEachWindowPixel(g, w, [&](int64_t n, int64_t row, int64_t, int64_t ih, int64_t iw) {
    const int64_t base = ((n * g.h + ih) * g.w + iw) * g.c;
    for (int64_t c = 0; c < g.c; ++c) {
      int64_t& a = arg[row * g.c + c];
      if (a < 0 || TakesMax(px[base + c], px[a])) a = base + c;
    }
  });
  return arg;
}
}  // namespace

StatusOr<Tensor> MaxPool(const Tensor& x, const Window& w) {
  FLOWPS_ASSIGN_OR_RETURN(Geometry g, MakeGeometry(x.shape(), w));
  std::vector<int64_t> arg = PoolArgMax(x, g, w);
  Tensor y(DType::kFloat32, Shape{g.n, g.oh, g.ow, g.c});
  float* py = y.data<float>();
  for (size_t i = 0; i < arg.size(); ++i) py[i] = arg[i] < 0 ? 0.f : x.data<float>()[arg[i]];
  return y;
}

StatusOr<Tensor> MaxPoolGrad(const Tensor& x, const Tensor& dy, const Window& w) {
  FLOWPS_ASSIGN_OR_RETURN(Geometry g, MakeGeometry(x.shape(), w));
  if (dy.shape() != Shape{g.n, g.oh, g.ow, g.c}) return InvalidArgument("pool gradient has shape " + dy.shape().ToString());
  std::vector<int64_t> arg = PoolArgMax(x, g, w);
  Tensor dx = Tensor::Zeros(DType::kFloat32, x.shape());
  for (size_t i = 0; i < arg.size(); ++i)
    if (arg[i] >= 0) dx.data<float>()[arg[i]] += dy.data<float>()[i];
  return dx;
}

}  // namespace flowps::kernels

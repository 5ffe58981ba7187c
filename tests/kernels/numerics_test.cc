// Numerics of the reductions and the max-type ops, checked against independent
// references computed here (long double sums): float32 sums stay accurate for
// a million values, and NaN propagates through ReduceMax, ArgMax, MaxPool and
// Relu's gradient as in TensorFlow and PyTorch. Each check runs on the CPU
// kernels and on the per-element code the CUDA kernels share (per_element.h).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/elementwise_functors.h"
#include "kernels/math_kernels.h"
#include "kernels/nn_kernels.h"
#include "kernels/per_element.h"
#include "kernels/per_element_index.h"
#include "../random_tensor.h"

using namespace flowps;
using namespace flowps::kernels;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The reduction as the GPU computes it, run on the host.
Tensor ReduceByIndex(const Tensor& x, const std::vector<int64_t>& axes, ReduceKind kind) {
  ReduceIndex r = *MakeReduceIndex(x.shape(), axes);
  Tensor y(DType::kFloat32, ReducedShape(x.shape(), axes, false));
  for (int64_t i = 0; i < y.num_elements(); ++i) y.data<float>()[i] = ReduceAt(r, x.data<float>(), i, kind);
  return y;
}

// The exact-enough reference: x summed over `axes` in long double, by
// walking every element and its output position (no shared code).
std::vector<long double> ReferenceSum(const Tensor& x, const std::vector<int64_t>& axes) {
  const Shape& s = x.shape();
  const Shape out = ReducedShape(s, axes, false);
  std::vector<long double> sum(out.num_elements(), 0.0L);
  std::vector<int64_t> idx(s.rank(), 0);
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    int64_t o = 0;
    for (int d = 0; d < s.rank(); ++d)
      if (std::find(axes.begin(), axes.end(), d) == axes.end()) o = o * s.dim(d) + idx[d];
    sum[o] += x.data<float>()[i];
    for (int d = s.rank() - 1; d >= 0 && ++idx[d] == s.dim(d); --d) idx[d] = 0;
  }
  return sum;
}

// Each element within `rel` of the reference (relative to the sum of |x| it
// stands for, so that cancellation does not demand the impossible).
void RequireNear(const Tensor& got, const std::vector<long double>& want, long double scale, double rel) {
  REQUIRE(got.num_elements() == static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    const long double err = std::fabs(static_cast<long double>(got.data<float>()[i]) - want[i]);
    INFO("element " << i << ": got " << got.data<float>()[i] << ", want " << static_cast<double>(want[i]));
    REQUIRE(err <= rel * scale);
  }
}

bool IsNaN(float v) { return std::isnan(v); }

}  // namespace

TEST_CASE("a million copies of 0.1 sum to 100000 within a few float32 roundings, not 1% off") {
  const int64_t n = 1000000;
  Tensor x(DType::kFloat32, Shape{n});
  std::fill_n(x.data<float>(), n, 0.1f);
  const long double want = static_cast<long double>(0.1f) * n;  // 100000.0015
  // A sequential float32 chain gives 100958.34; float32's spacing at 1e5 is 0.0078.
  const float cpu = Reduce(ReduceOp::kSum, x, {0}, false).data<float>()[0];
  const float gpu = ReduceByIndex(x, {0}, ReduceKind::kSum).data<float>()[0];
  CHECK(std::fabs(cpu - want) <= 1e-6L * want);
  CHECK(std::fabs(gpu - want) <= 1e-6L * want);
  const float mean = Reduce(ReduceOp::kMean, x, {0}, false).data<float>()[0];
  const float gpu_mean = ReduceByIndex(x, {0}, ReduceKind::kMean).data<float>()[0];
  CHECK(std::fabs(mean - 0.1L) <= 1e-6L * 0.1L);
  CHECK(std::fabs(gpu_mean - 0.1L) <= 1e-6L * 0.1L);
}

TEST_CASE("long sums over any axes stay within 1e-6 of a long double reference, CPU and per element") {
  struct Case {
    Shape shape;
    std::vector<int64_t> axes;
  };
  // Rows (reduced dims last), columns (reduced dims first), a run in the
  // middle, and two separate runs.
  const Case cases[] = {{Shape{3, 400000}, {1}},      {Shape{400000, 3}, {0}},  {Shape{2, 300000, 2}, {1}},
                        {Shape{500, 3, 800}, {0, 2}}, {Shape{1000000}, {0}},    {Shape{250000, 4}, {0, 1}}};
  uint32_t seed = 1;
  for (const Case& c : cases) {
    INFO("shape " << c.shape.ToString() << ", " << c.axes.size() << " axes");
    // Values of one sign, so that the sum of |x| is the sum: the hardest case for a chain.
    Tensor x = testing::RandomTensor(c.shape, ++seed, 0.f, 1.f);
    const std::vector<long double> want = ReferenceSum(x, c.axes);
    long double largest = 0;
    for (long double w : want) largest = std::max(largest, w);
    RequireNear(Reduce(ReduceOp::kSum, x, c.axes, false), want, largest, 1e-6);
    RequireNear(ReduceByIndex(x, c.axes, ReduceKind::kSum), want, largest, 1e-6);
  }
}

TEST_CASE("SumToShape of a long batch, as for a bias gradient, stays within 1e-6 of the reference") {
  Tensor x = testing::RandomTensor(Shape{500000, 2}, 9, 0.f, 1.f);
  const std::vector<long double> want = ReferenceSum(x, {0});
  RequireNear(*SumToShape(x, Shape{2}), want, want[0], 1e-6);
}

TEST_CASE("ReduceMax is NaN wherever the reduced values hold a NaN, CPU and per element") {
  Tensor v = Tensor::FromVector<float>(Shape{3}, {1.f, kNaN, 0.5f});
  CHECK(IsNaN(Reduce(ReduceOp::kMax, v, {0}, false).data<float>()[0]));
  CHECK(IsNaN(ReduceByIndex(v, {0}, ReduceKind::kMax).data<float>()[0]));
  // NaN first, last, or absent, along rows and along columns.
  Tensor m = Tensor::FromVector<float>(Shape{3, 3}, {kNaN, 2.f, 1.f, 4.f, 5.f, kNaN, 7.f, 8.f, 9.f});
  for (const auto& [axis, nan_at] : {std::pair<int64_t, std::vector<bool>>{1, {true, true, false}},
                                     std::pair<int64_t, std::vector<bool>>{0, {true, false, true}}}) {
    INFO("axis " << axis);
    for (const Tensor& y : {Reduce(ReduceOp::kMax, m, {axis}, false), ReduceByIndex(m, {axis}, ReduceKind::kMax)})
      for (int i = 0; i < 3; ++i) CHECK(IsNaN(y.data<float>()[i]) == nan_at[i]);
  }
  CHECK(Reduce(ReduceOp::kMax, m, {1}, false).data<float>()[2] == 9.f);
}

TEST_CASE("the gradient of a NaN max goes to the NaN") {
  Tensor x = Tensor::FromVector<float>(Shape{2, 3}, {1.f, kNaN, 0.5f, 3.f, 1.f, 3.f});
  Tensor y = Reduce(ReduceOp::kMax, x, {1}, false);
  Tensor g = *ReduceMaxGrad(x, y, Tensor::FromVector<float>(Shape{2}, {1.f, 1.f}), {1});
  CHECK(g.ToVector<float>() == std::vector<float>{0.f, 1.f, 0.f, 0.5f, 0.f, 0.5f});
}

TEST_CASE("ArgMax points at the first NaN along its axis") {
  Tensor x = Tensor::FromVector<float>(Shape{3, 4},
                                       {1.f, kNaN, 0.5f, kNaN, kNaN, 3.f, 9.f, 2.f, 1.f, 7.f, 2.f, 7.f});
  CHECK(ArgMax(x, 1)->ToVector<int64_t>() == std::vector<int64_t>{1, 0, 1});
  CHECK(ArgMax(x, 0)->ToVector<int64_t>() == std::vector<int64_t>{1, 0, 1, 0});
}

TEST_CASE("MaxPool is NaN wherever its window holds a NaN, wherever the NaN sits, and routes the gradient to it") {
  // One image 4x4x1, 2x2 windows, stride 2: a NaN at each position of a window.
  const float img[16] = {kNaN, 1.f, 2.f, 3.f,   //
                         4.f,  5.f, 6.f, kNaN,  //
                         7.f,  8.f, 9.f, 1.f,   //
                         kNaN, 2.f, 3.f, 4.f};
  Tensor x = Tensor::FromVector<float>(Shape{1, 4, 4, 1}, std::vector<float>(img, img + 16));
  const Window w{2, 2, 2, 2, false};
  Tensor y = *MaxPool(x, w);
  WindowGeometry g = *MakeWindowGeometry(x.shape(), w, 1);
  const bool want_nan[4] = {true, true, true, false};
  for (int i = 0; i < 4; ++i) {
    INFO("window " << i);
    CHECK(IsNaN(y.data<float>()[i]) == want_nan[i]);
    const int64_t at = MaxPoolArgMax(g, x.data<float>(), i);
    CHECK(IsNaN(x.data<float>()[at]) == want_nan[i]);
  }
  CHECK(y.data<float>()[3] == 9.f);
  Tensor dx = *MaxPoolGrad(x, Tensor::FromVector<float>(Shape{1, 2, 2, 1}, {1.f, 2.f, 3.f, 4.f}), w);
  CHECK(dx.data<float>()[0] == 1.f);
  CHECK(dx.data<float>()[7] == 2.f);
  CHECK(dx.data<float>()[12] == 3.f);
  CHECK(dx.data<float>()[10] == 4.f);
}

TEST_CASE("Relu and its gradient keep NaN, CPU and per element") {
  Tensor x = Tensor::FromVector<float>(Shape{3}, {kNaN, -1.f, 2.f});
  Tensor y = Unary(UnaryOp::kRelu, x);
  CHECK(IsNaN(y.data<float>()[0]));
  CHECK(y.data<float>()[1] == 0.f);
  CHECK(IsNaN(ReluFn()(kNaN)));
  Tensor dy = Tensor::FromVector<float>(Shape{3}, {1.f, 1.f, 1.f});
  Tensor dx = *Binary(BinaryOp::kReluGrad, dy, x);
  CHECK(IsNaN(dx.data<float>()[0]));
  CHECK(dx.data<float>()[1] == 0.f);
  CHECK(dx.data<float>()[2] == 1.f);
  CHECK(IsNaN(ReluGradFn()(1.f, kNaN)));
  CHECK(ReluGradFn()(1.f, -3.f) == 0.f);
}

TEST_CASE("the softmax and cross-entropy of a 100,000-class row sum within 1e-6, CPU and per element") {
  const int64_t c = 100000;
  Tensor logits = testing::RandomTensor(Shape{1, c}, 21, -1.f, 1.f);
  const float* x = logits.data<float>();
  float m = x[0];
  for (int64_t k = 1; k < c; ++k) m = std::max(m, x[k]);
  long double exact = 0;  // sum of exp(x - m), in long double
  for (int64_t k = 0; k < c; ++k) exact += std::exp(static_cast<long double>(x[k]) - m);
  const int64_t label = 777;
  const long double want_loss = std::log(exact) - (static_cast<long double>(x[label]) - m);

  auto total = [](const float* y, int64_t n) {
    long double s = 0;
    for (int64_t k = 0; k < n; ++k) s += y[k];
    return s;
  };
  Tensor cpu = Softmax(logits);
  CHECK(std::fabs(total(cpu.data<float>(), c) - 1.0L) <= 1e-6L);
  std::vector<float> y(c);
  SoftmaxRow(x, c, y.data());
  CHECK(std::fabs(total(y.data(), c) - 1.0L) <= 1e-6L);

  CrossEntropy ce = *SparseSoftmaxCrossEntropy(logits, Tensor::FromVector<int64_t>(Shape{1}, {label}));
  std::vector<float> backprop(c);
  const float row_loss = CrossEntropyRow(x, c, label, backprop.data());
  INFO("want loss " << static_cast<double>(want_loss));
  CHECK(std::fabs(ce.loss.data<float>()[0] - want_loss) <= 3e-6L);
  CHECK(std::fabs(row_loss - want_loss) <= 3e-6L);
}

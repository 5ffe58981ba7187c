// The per-element arithmetic that the CUDA kernels run (elementwise_functors.h,
// per_element.h), run here on the host over whole tensors and compared with
// the Eigen kernels of the CPU path.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "kernels/array_kernels.h"
#include "kernels/elementwise_functors.h"
#include "kernels/math_kernels.h"
#include "kernels/nn_kernels.h"
#include "kernels/per_element.h"
#include "kernels/per_element_index.h"
#include "kernels/strided.h"
#include "../random_tensor.h"

using namespace flowps;
using namespace flowps::kernels;

namespace {

Tensor Random(Shape shape, uint32_t seed, float lo = -2.f, float hi = 2.f) {
  return flowps::testing::RandomTensor(std::move(shape), seed, lo, hi);
}

void RequireClose(const Tensor& got, const Tensor& want, float tol = 1e-5f) {
  REQUIRE(got.shape() == want.shape());
  for (int64_t i = 0; i < want.num_elements(); ++i) {
    const float w = want.data<float>()[i], g = got.data<float>()[i];
    INFO("element " << i << ": got " << g << ", want " << w);
    REQUIRE(std::abs(g - w) <= tol * (1.f + std::abs(w)));
  }
}

template <typename F>
Tensor MapUnary(const Tensor& x, F f) {
  Tensor y(DType::kFloat32, x.shape());
  for (int64_t i = 0; i < x.num_elements(); ++i) y.data<float>()[i] = f(x.data<float>()[i]);
  return y;
}

template <typename F>
Tensor MapBinary(const Tensor& a, const Tensor& b, F f) {
  Shape out = *BroadcastShape(a.shape(), b.shape());
  BroadcastIndex idx = *MakeBroadcastIndex(out, a.shape(), b.shape());
  Tensor y(DType::kFloat32, out);
  for (int64_t i = 0; i < y.num_elements(); ++i) y.data<float>()[i] = BinaryAt(idx, a.data<float>(), b.data<float>(), i, f);
  return y;
}

Tensor ReduceByIndex(const Tensor& x, const std::vector<int64_t>& axes, ReduceKind kind) {
  ReduceIndex r = *MakeReduceIndex(x.shape(), axes);
  Tensor y(DType::kFloat32, ReducedShape(x.shape(), axes, false));
  for (int64_t i = 0; i < y.num_elements(); ++i) y.data<float>()[i] = ReduceAt(r, x.data<float>(), i, kind);
  return y;
}

}  // namespace

TEST_CASE("the unary functors the GPU runs agree with the Eigen kernels") {
  Tensor x = Random(Shape{4, 33}, 1);
  Tensor pos = Random(Shape{4, 33}, 2, 0.1f, 3.f);
  RequireClose(MapUnary(x, NegFn()), Unary(UnaryOp::kNeg, x));
  RequireClose(MapUnary(x, SquareFn()), Unary(UnaryOp::kSquare, x));
  RequireClose(MapUnary(pos, SqrtFn()), Unary(UnaryOp::kSqrt, pos));
  RequireClose(MapUnary(x, ExpFn()), Unary(UnaryOp::kExp, x));
  RequireClose(MapUnary(pos, LogFn()), Unary(UnaryOp::kLog, pos));
  RequireClose(MapUnary(x, ReluFn()), Unary(UnaryOp::kRelu, x));
  RequireClose(MapUnary(x, SigmoidFn()), Unary(UnaryOp::kSigmoid, x));
  RequireClose(MapUnary(x, TanhFn()), Unary(UnaryOp::kTanh, x));
}

TEST_CASE("the binary functors with the GPU's broadcast indexing agree with the Eigen kernels") {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {Shape{3, 5}, Shape{3, 5}}, {Shape{3, 5}, Shape{5}}, {Shape{4, 1, 6}, Shape{3, 1}}, {Shape{}, Shape{2, 3}},
      {Shape{2, 1, 3, 1}, Shape{1, 4, 1, 5}}};
  uint32_t seed = 10;
  for (const auto& [sa, sb] : shapes) {
    INFO("shapes " << sa.ToString() << " and " << sb.ToString());
    Tensor a = Random(sa, ++seed), b = Random(sb, ++seed, 0.5f, 2.f);
    RequireClose(MapBinary(a, b, AddFn()), *Binary(BinaryOp::kAdd, a, b));
    RequireClose(MapBinary(a, b, SubFn()), *Binary(BinaryOp::kSub, a, b));
    RequireClose(MapBinary(a, b, MulFn()), *Binary(BinaryOp::kMul, a, b));
    RequireClose(MapBinary(a, b, DivFn()), *Binary(BinaryOp::kDiv, a, b));
    RequireClose(MapBinary(a, b, ReluGradFn()), *Binary(BinaryOp::kReluGrad, a, b));
    RequireClose(MapBinary(a, b, SigmoidGradFn()), *Binary(BinaryOp::kSigmoidGrad, a, b));
    RequireClose(MapBinary(a, b, TanhGradFn()), *Binary(BinaryOp::kTanhGrad, a, b));
    RequireClose(MapBinary(b, a, SqrtGradFn()), *Binary(BinaryOp::kSqrtGrad, b, a));
  }
}

TEST_CASE("a broadcast index refuses shapes that do not broadcast or exceed the supported rank") {
  CHECK_FALSE(MakeBroadcastIndex(Shape{3, 4}, Shape{3, 4}, Shape{5}).ok());
  CHECK_FALSE(MakeBroadcastIndex(Shape{1, 1, 1, 1, 1, 1, 1, 1, 2}, Shape{2}, Shape{2}).ok());
}

TEST_CASE("reductions over any axes by the GPU's index arithmetic agree with the Eigen kernels") {
  Tensor x = Random(Shape{3, 4, 5}, 7);
  const std::vector<std::vector<int64_t>> axes_list = {{}, {0}, {1}, {2}, {0, 2}, {1, 2}, {0, 1, 2}};
  for (const auto& given : axes_list) {
    std::vector<int64_t> axes = *NormalizeAxes(given, 3);
    INFO("axes of size " << given.size());
    RequireClose(ReduceByIndex(x, axes, ReduceKind::kSum), Reduce(ReduceOp::kSum, x, axes, false), 1e-5f);
    RequireClose(ReduceByIndex(x, axes, ReduceKind::kMean), Reduce(ReduceOp::kMean, x, axes, false), 1e-5f);
    RequireClose(ReduceByIndex(x, axes, ReduceKind::kMax), Reduce(ReduceOp::kMax, x, axes, false));
  }
}

TEST_CASE("summing down to a broadcast shape by reduction axes agrees with SumToShape") {
  Tensor x = Random(Shape{2, 3, 4}, 8);
  for (const Shape& target : {Shape{4}, Shape{3, 1}, Shape{1, 3, 4}, Shape{2, 1, 1}, Shape{}}) {
    INFO("target " << target.ToString());
    std::vector<int64_t> axes = *SumToShapeAxes(x.shape(), target);
    Tensor got = *ReduceByIndex(x, axes, ReduceKind::kSum).Reshaped(target);
    RequireClose(got, *SumToShape(x, target), 1e-5f);
  }
  CHECK_FALSE(SumToShapeAxes(Shape{2, 3}, Shape{2}).ok());
}

TEST_CASE("softmax and the sparse cross-entropy rows agree with the Eigen kernels") {
  Tensor logits = Random(Shape{6, 10}, 9, -5.f, 5.f);
  Tensor labels = Tensor::FromVector<int32_t>(Shape{6}, {0, 9, 3, 3, 5, 1});
  Tensor y(DType::kFloat32, logits.shape());
  for (int64_t r = 0; r < 6; ++r) SoftmaxRow(logits.data<float>() + r * 10, 10, y.data<float>() + r * 10);
  RequireClose(y, Softmax(logits));

  CrossEntropy want = *SparseSoftmaxCrossEntropy(logits, labels);
  Tensor loss(DType::kFloat32, Shape{6}), backprop(DType::kFloat32, Shape{6, 10});
  for (int64_t r = 0; r < 6; ++r)
    loss.data<float>()[r] = CrossEntropyRow(logits.data<float>() + r * 10, 10, labels.data<int32_t>()[r],
                                            backprop.data<float>() + r * 10);
  RequireClose(loss, want.loss);
  RequireClose(backprop, want.backprop);
}

TEST_CASE("a softmax split in parts by LogSumExp and PickColumn gives the full cross-entropy, as the GPU computes it") {
  Tensor logits = Random(Shape{6, 10}, 21, -30.f, 30.f);
  Tensor labels = Tensor::FromVector<int32_t>(Shape{6}, {0, 9, 3, 4, 5, 1});
  CrossEntropy want = *SparseSoftmaxCrossEntropy(logits, labels);
  const int64_t widths[] = {4, 4, 2};  // columns [0, 4), [4, 8), [8, 10)
  for (int64_t r = 0; r < 6; ++r) {
    const float* row = logits.data<float>() + r * 10;
    float lse[3], picked = 0.f;
    int64_t offset = 0;
    for (int p = 0; p < 3; ++p) {
      std::vector<float> part(row + offset, row + offset + widths[p]);
      lse[p] = LogSumExpRow(part.data(), widths[p]);
      bool bad = true;
      picked += PickColumnAt(part.data(), widths[p], labels.data<int32_t>() + r, offset, 10, 0, &bad);
      CHECK_FALSE(bad);
      offset += widths[p];
    }
    CHECK(LogSumExpRow(lse, 3) - picked == Approx(want.loss.data<float>()[r]).epsilon(1e-5));
  }
  const int64_t out_of_range[] = {10};
  bool bad = false;
  CHECK(PickColumnAt(logits.data<float>(), 10, out_of_range, 0, 10, 0, &bad) == 0.f);
  CHECK(bad);
  const float huge[] = {1e30f, -INFINITY, 1e30f}, none[] = {-INFINITY, -INFINITY};
  CHECK(LogSumExpRow(huge, 3) == Approx(1e30f));
  CHECK(LogSumExpRow(none, 2) == -INFINITY);
  CHECK(std::isnan(LogSumExpRow(std::vector<float>{1.f, NAN}.data(), 2)));
}

TEST_CASE("PickColumn's kernels route each row's gradient to its label's column, as the GPU does per element") {
  Tensor x = Random(Shape{3, 4}, 22);
  Tensor labels = Tensor::FromVector<int64_t>(Shape{3}, {5, 2, 3});  // row 1 is another part's
  Tensor picked = *PickColumn(x, labels, 2, 6);
  CHECK(picked.shape() == Shape{3, 1});
  CHECK(picked.data<float>()[0] == x.data<float>()[0 * 4 + 3]);
  CHECK(picked.data<float>()[1] == x.data<float>()[1 * 4 + 0]);
  CHECK(picked.data<float>()[2] == x.data<float>()[2 * 4 + 1]);
  Tensor dy = Tensor::FromVector<float>(Shape{3, 1}, {1.f, 2.f, 3.f});
  Tensor dx = *PickColumnGrad(dy, labels, x.shape(), 2);
  const std::vector<float> want = {0, 0, 0, 1, 2, 0, 0, 0, 0, 3, 0, 0};
  for (int64_t i = 0; i < 12; ++i) {
    CHECK(dx.data<float>()[i] == want[static_cast<size_t>(i)]);
    CHECK(PickColumnGradAt(dy.data<float>(), 4, labels.data<int64_t>(), 2, i) == want[static_cast<size_t>(i)]);
  }
  Tensor bad_labels = Tensor::FromVector<int64_t>(Shape{3}, {0, -1, 2});
  auto refused = PickColumn(x, bad_labels, 2, 6);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message().find("label -1 of example 1 is out of range [0, 6)") != std::string::npos);
}

TEST_CASE("gather offsets pick the same rows as the Gather kernel and flag bad indices") {
  Tensor params = Random(Shape{5, 3}, 11);
  Tensor indices = Tensor::FromVector<int64_t>(Shape{2, 2}, {4, 0, 2, 4});
  Tensor want = *Gather(params, indices);
  Tensor got(DType::kFloat32, want.shape());
  for (int64_t i = 0; i < got.num_elements(); ++i)
    got.data<float>()[i] = params.data<float>()[GatherOffset(indices.data<int64_t>(), 5, 3, i)];
  RequireClose(got, want);
  const int32_t bad[] = {1, 5, -1};
  CHECK(GatherOffset(bad, 5, 3, 3) == -1);
  CHECK(GatherOffset(bad, 5, 3, 6) == -1);
  CHECK(GatherOffset(bad, 5, 3, 2) == 5);
}

TEST_CASE("convolution, its gradients and max pooling per element agree with the Eigen kernels") {
  struct Case {
    Shape x;
    int64_t kh, kw, sh, sw, out;
    bool same;
  };
  const Case cases[] = {{Shape{2, 5, 6, 3}, 3, 3, 1, 1, 4, true},
                        {Shape{1, 7, 7, 2}, 3, 2, 2, 2, 3, false},
                        {Shape{2, 6, 5, 1}, 2, 2, 2, 1, 2, true}};
  uint32_t seed = 20;
  for (const Case& k : cases) {
    INFO("input " << k.x.ToString() << " window " << k.kh << "x" << k.kw << (k.same ? " SAME" : " VALID"));
    Window w{k.kh, k.kw, k.sh, k.sw, k.same};
    Tensor x = Random(k.x, ++seed);
    Tensor f = Random(Shape{k.kh, k.kw, k.x.dim(3), k.out}, ++seed);
    WindowGeometry g = *MakeWindowGeometry(x.shape(), w, k.out);

    Tensor y = *Conv2D(x, f, w, nullptr);
    Tensor got(DType::kFloat32, y.shape());
    for (int64_t i = 0; i < got.num_elements(); ++i) got.data<float>()[i] = Conv2DAt(g, x.data<float>(), f.data<float>(), i);
    RequireClose(got, y, 1e-4f);

    Tensor dy = Random(y.shape(), ++seed);
    Tensor dx = *Conv2DBackpropInput(x.shape(), f, dy, w, nullptr);
    Tensor dx_got(DType::kFloat32, x.shape());
    for (int64_t i = 0; i < dx_got.num_elements(); ++i)
      dx_got.data<float>()[i] = Conv2DBackpropInputAt(g, f.data<float>(), dy.data<float>(), i);
    RequireClose(dx_got, dx, 1e-4f);

    Tensor df = *Conv2DBackpropFilter(x, f.shape(), dy, w, nullptr);
    Tensor df_got(DType::kFloat32, f.shape());
    for (int64_t i = 0; i < df_got.num_elements(); ++i)
      df_got.data<float>()[i] = Conv2DBackpropFilterAt(g, x.data<float>(), dy.data<float>(), i);
    RequireClose(df_got, df, 1e-4f);

    WindowGeometry pg = *MakeWindowGeometry(x.shape(), w, x.shape().dim(3));
    Tensor pooled = *MaxPool(x, w);
    Tensor pooled_got(DType::kFloat32, pooled.shape());
    Tensor pdy = Random(pooled.shape(), ++seed);
    Tensor pdx = Tensor::Zeros(DType::kFloat32, x.shape());
    for (int64_t i = 0; i < pooled.num_elements(); ++i) {
      const int64_t at = MaxPoolArgMax(pg, x.data<float>(), i);
      pooled_got.data<float>()[i] = at < 0 ? 0.f : x.data<float>()[at];
      if (at >= 0) pdx.data<float>()[at] += pdy.data<float>()[i];
    }
    RequireClose(pooled_got, pooled);
    RequireClose(pdx, *MaxPoolGrad(x, pdy, w));
  }
}

TEST_CASE("copies through boxes, as the GPU's Slice, Split, Concat and SliceGrad do, agree with the CPU kernels") {
  Tensor x = Random(Shape{3, 4, 5}, 40);
  const std::vector<int64_t> begin{1, 0, 2};
  Tensor want = *Slice(x, begin, {2, -1, 2});
  Box box = *MakeBox(x.shape(), begin, want.shape());
  Tensor got(DType::kFloat32, want.shape());
  for (int64_t i = 0; i < got.num_elements(); ++i) got.data<float>()[i] = x.data<float>()[BoxOffset(box, i)];
  RequireClose(got, want);

  // SliceGrad writes into the box of zeros.
  Tensor grad = Tensor::Zeros(DType::kFloat32, x.shape());
  for (int64_t i = 0; i < want.num_elements(); ++i) grad.data<float>()[BoxOffset(box, i)] = want.data<float>()[i];
  RequireClose(grad, *SliceGrad(want, x.shape(), begin));

  // Split's parts are boxes along the axis; Concat writes them back.
  std::vector<Tensor> parts = *Split(Random(Shape{2, 6, 3}, 41), 3, 1);
  Tensor whole = *Concat(parts, 1);
  Tensor rebuilt(DType::kFloat32, whole.shape());
  for (int p = 0; p < 3; ++p) {
    Box b = *MakeBox(whole.shape(), {0, 2 * p, 0}, parts[p].shape());
    Tensor part(DType::kFloat32, parts[p].shape());
    for (int64_t i = 0; i < part.num_elements(); ++i) {
      part.data<float>()[i] = whole.data<float>()[BoxOffset(b, i)];
      rebuilt.data<float>()[BoxOffset(b, i)] = parts[p].data<float>()[i];
    }
    RequireClose(part, parts[p]);
  }
  RequireClose(rebuilt, whole);
  CHECK_FALSE(MakeBox(Shape{3, 4}, {2, 0}, Shape{2, 4}).ok());
  CHECK_FALSE(Split(x, 3, 1).ok());
}

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <future>
#include <random>

#include "core/thread_pool.h"
#include "kernels/array_kernels.h"
#include "kernels/math_kernels.h"
#include "kernels/nn_kernels.h"
#include "kernels/parallel_for.h"
#include "kernels/strided.h"
#include "../random_tensor.h"

using namespace flowps;
using namespace flowps::kernels;

namespace {
Tensor F(std::vector<float> v, Shape s) { return Tensor::FromVector<float>(std::move(s), v); }
Tensor Random(Shape s, uint32_t seed) { return flowps::testing::RandomTensor(std::move(s), seed); }
float MaxAbsDiff(const Tensor& a, const Tensor& b) {
  float worst = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i) worst = std::max(worst, std::abs(a.data<float>()[i] - b.data<float>()[i]));
  return worst;
}
}  // namespace

TEST_CASE("shapes broadcast like numpy, unknown dims included, and mismatches are named") {
  CHECK(*BroadcastShape(Shape{2, 1, 3}, Shape{4, 1}) == Shape{2, 4, 3});
  CHECK(*BroadcastShape(Shape{-1, 3}, Shape{3}) == Shape{-1, 3});
  CHECK(*BroadcastShape(Shape{-1, 3}, Shape{5, 1}) == Shape{5, 3});
  auto bad = BroadcastShape(Shape{2, 3}, Shape{4});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("[2,3]") != std::string::npos);
}

TEST_CASE("a broadcast binary op pairs each element with the right partner") {
  Tensor col = F({1, 2}, Shape{2, 1});
  Tensor row = F({10, 20, 30}, Shape{3});
  auto sum = Binary(BinaryOp::kAdd, col, row);
  REQUIRE(sum.ok());
  CHECK(sum->shape() == Shape{2, 3});
  CHECK(sum->ToVector<float>() == std::vector<float>{11, 21, 31, 12, 22, 32});
  auto diff = Binary(BinaryOp::kSub, row, col);
  CHECK(diff->ToVector<float>() == std::vector<float>{9, 19, 29, 8, 18, 28});
  CHECK_FALSE(Binary(BinaryOp::kMul, F({1, 2}, Shape{2}), F({1, 2, 3}, Shape{3})).ok());
}

TEST_CASE("reductions over axes keep or drop dims, and SumToShape undoes broadcasting") {
  Tensor x = F({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  CHECK(Reduce(ReduceOp::kSum, x, {0}, false).ToVector<float>() == std::vector<float>{5, 7, 9});
  CHECK(Reduce(ReduceOp::kMean, x, {1}, true).shape() == Shape{2, 1});
  CHECK(Reduce(ReduceOp::kMean, x, {1}, true).ToVector<float>() == std::vector<float>{2, 5});
  CHECK(Reduce(ReduceOp::kMax, x, {0, 1}, false).ToVector<float>() == std::vector<float>{6});
  CHECK(SumToShape(x, Shape{1, 3})->ToVector<float>() == std::vector<float>{5, 7, 9});
  CHECK(SumToShape(x, Shape{})->ToVector<float>() == std::vector<float>{21});
  CHECK_FALSE(SumToShape(x, Shape{2}).ok());
}

TEST_CASE("the gradient of a max is shared among tied maxima") {
  Tensor x = F({3, 1, 3, 0, 5, 2}, Shape{2, 3});
  Tensor y = Reduce(ReduceOp::kMax, x, {1}, false);
  auto g = ReduceMaxGrad(x, y, F({1, 1}, Shape{2}), {1});
  REQUIRE(g.ok());
  CHECK(g->ToVector<float>() == std::vector<float>{0.5f, 0, 0.5f, 0, 1, 0});
}

TEST_CASE("a matmul split over the pool equals the one computed on one thread") {
  auto pool = NewAsioThreadPool(2);
  Tensor a = Random(Shape{300, 200}, 1), b = Random(Shape{150, 200}, 2);
  auto serial = MatMul(a, b, false, true, nullptr);
  auto parallel = MatMul(a, b, false, true, pool.get());
  REQUIRE(serial.ok());
  REQUIRE(parallel.ok());
  CHECK(parallel->shape() == Shape{300, 150});
  CHECK(MaxAbsDiff(*parallel, *serial) < 1e-4f);
  CHECK_FALSE(MatMul(a, b, false, false, nullptr).ok());
}

TEST_CASE("a short, wide matmul split by columns over the pool equals the one on one thread") {
  auto pool = NewAsioThreadPool(2);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = Random(ta ? Shape{300, 64} : Shape{64, 300}, 5), b = Random(tb ? Shape{512, 300} : Shape{300, 512}, 6);
      auto serial = MatMul(a, b, ta, tb, nullptr);
      auto parallel = MatMul(a, b, ta, tb, pool.get());
      REQUIRE(parallel.ok());
      REQUIRE(parallel->shape() == Shape{64, 512});
      CHECK(MaxAbsDiff(*parallel, *serial) < 1e-4f);
    }
}

TEST_CASE("both MatMul engines agree with a naive product for every transpose, on one thread and split") {
  auto pool = NewAsioThreadPool(2);
  const int64_t m = 256, k = 96, n = 100;  // 4.9 MFLOP: large enough to be split over the pool
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = Random(ta ? Shape{k, m} : Shape{m, k}, 11), b = Random(tb ? Shape{n, k} : Shape{k, n}, 12);
      auto at = [&](int64_t i, int64_t p) { return a.data<float>()[ta ? p * m + i : i * k + p]; };
      auto bt = [&](int64_t p, int64_t j) { return b.data<float>()[tb ? j * k + p : p * n + j]; };
      for (MatMulEngine e : {MatMulEngine::kEigen, MatMulEngine::kBlas})
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), pool.get()}) {
          INFO("ta " << ta << " tb " << tb << " engine " << static_cast<int>(e) << (p ? " split" : " one thread"));
          auto c = MatMul(a, b, ta, tb, p, e);
          REQUIRE(c.ok());
          REQUIRE(c->shape() == Shape{m, n});
          float worst = 0;
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              double want = 0;
              for (int64_t q = 0; q < k; ++q) want += double(at(i, q)) * double(bt(q, j));
              worst = std::max(worst, float(std::abs(c->data<float>()[i * n + j] - want)));
            }
          CHECK(worst < 1e-4f);
        }
    }
  CHECK(MatMul(Random(Shape{3, 0}, 1), Random(Shape{0, 2}, 2), false, false, nullptr)->ToVector<float>() ==
        std::vector<float>(6, 0.f));
}

TEST_CASE("ParallelFor called from busy pool threads runs every block exactly once") {
  std::atomic<int> total{0};
  std::promise<void> done[2];
  auto pool = NewAsioThreadPool(2);  // destroyed (joined) before what its tasks use
  ThreadPool* p = pool.get();
  // Both pool threads call ParallelFor at once: neither may wait on a block
  // queued behind the other.
  for (int t = 0; t < 2; ++t)
    p->Schedule([&, t] {
      ParallelFor(p, 100, [&](int64_t i) { total += static_cast<int>(i); });
      done[t].set_value();
    });
  for (auto& d : done) REQUIRE(d.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(total == 2 * 4950);
}

TEST_CASE("Conv2D agrees with a direct convolution, SAME and strided") {
  Tensor x = Random(Shape{2, 5, 4, 3}, 3), f = Random(Shape{3, 2, 3, 4}, 4);
  Window w{3, 2, 2, 1, true};
  auto y = Conv2D(x, f, w, nullptr);
  REQUIRE(y.ok());
  REQUIRE(y->shape() == Shape{2, 3, 4, 4});
  // SAME, stride 2x1: pad_top = ((3-1)*2 + 3 - 5) / 2 = 1; pad_left = (3*1 + 2 - 4) / 2 = 0.
  const float* px = x.data<float>();
  const float* pf = f.data<float>();
  for (int n = 0; n < 2; ++n)
    for (int oh = 0; oh < 3; ++oh)
      for (int ow = 0; ow < 4; ++ow)
        for (int o = 0; o < 4; ++o) {
          double acc = 0;
          for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 2; ++j)
              for (int c = 0; c < 3; ++c) {
                int ih = oh * 2 - 1 + i, iw = ow + j;
                if (ih < 0 || ih >= 5 || iw < 0 || iw >= 4) continue;
                acc += px[((n * 5 + ih) * 4 + iw) * 3 + c] * pf[((i * 2 + j) * 3 + c) * 4 + o];
              }
          CHECK(y->data<float>()[((n * 3 + oh) * 4 + ow) * 4 + o] == Approx(acc).margin(1e-5));
        }
}

TEST_CASE("max pooling never picks padding, and its gradient goes to the max") {
  Tensor x = F({-1, -2, -3, -4}, Shape{1, 2, 2, 1});
  Window w{3, 3, 2, 2, true};
  auto y = MaxPool(x, w);
  REQUIRE(y.ok());
  CHECK(y->shape() == Shape{1, 1, 1, 1});
  CHECK(y->ToVector<float>() == std::vector<float>{-1});
  auto g = MaxPoolGrad(x, F({5}, Shape{1, 1, 1, 1}), w);
  CHECK(g->ToVector<float>() == std::vector<float>{5, 0, 0, 0});
}

TEST_CASE("softmax cross-entropy is stable for large logits and refuses a bad label") {
  Tensor logits = F({1000, 0, 1000, 1000}, Shape{2, 2});
  auto r = SparseSoftmaxCrossEntropy(logits, Tensor::FromVector<int64_t>(Shape{2}, {0, 1}));
  REQUIRE(r.ok());
  CHECK(r->loss.ToVector<float>()[0] == Approx(0).margin(1e-6));
  CHECK(r->loss.ToVector<float>()[1] == Approx(std::log(2.0)));
  auto bad = SparseSoftmaxCrossEntropy(logits, Tensor::FromVector<int32_t>(Shape{2}, {0, 2}));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("label 2 of example 1") != std::string::npos);
  CHECK(Softmax(logits).ToVector<float>()[2] == Approx(0.5));
}

TEST_CASE("array kernels move any dtype: transpose, concat, slice and gather of int64") {
  Tensor x = Tensor::FromVector<int64_t>(Shape{2, 3}, {0, 1, 2, 3, 4, 5});
  CHECK(Transpose(x, {1, 0})->ToVector<int64_t>() == std::vector<int64_t>{0, 3, 1, 4, 2, 5});
  CHECK(Concat({x, x}, 1)->ToVector<int64_t>() == std::vector<int64_t>{0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5});
  CHECK(Slice(x, {0, 1}, {2, -1})->ToVector<int64_t>() == std::vector<int64_t>{1, 2, 4, 5});
  CHECK(Gather(x, Tensor::FromVector<int32_t>(Shape{3}, {1, 1, 0}))->ToVector<int64_t>() ==
        std::vector<int64_t>{3, 4, 5, 3, 4, 5, 0, 1, 2});
  auto bad = Gather(x, Tensor::FromVector<int32_t>(Shape{1}, {-1}));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("index -1") != std::string::npos);
  auto dense = ScatterRowsAdd(Tensor::FromVector<int32_t>(Shape{3}, {1, 1, 0}), F({1, 2, 3}, Shape{3, 1}), Shape{2, 1});
  CHECK(dense->ToVector<float>() == std::vector<float>{3, 3});
}

TEST_CASE("argmax picks the first largest element along an axis; casts convert") {
  Tensor x = F({1, 5, 5, 7, 0, 2}, Shape{2, 3});
  CHECK(ArgMax(x, 1)->ToVector<int64_t>() == std::vector<int64_t>{1, 0});
  CHECK(ArgMax(x, 0)->ToVector<int64_t>() == std::vector<int64_t>{1, 0, 0});
  CHECK(Cast(x, DType::kInt32)->ToVector<int32_t>() == std::vector<int32_t>{1, 5, 5, 7, 0, 2});
  CHECK(Cast(Tensor::FromVector<int64_t>(Shape{2}, {3, -4}), DType::kFloat32)->ToVector<float>() ==
        std::vector<float>{3, -4});
}

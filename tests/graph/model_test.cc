// Small models built from the standard ops: the project's LSTM cell
// (graph/layers.h) unrolled over two steps, its arithmetic against the
// formula, and a tiny CNN, forward and backward, gradients checked numerically.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/thread_pool.h"
#include "gradient_checker.h"
#include "graph/executor.h"
#include "graph/layers.h"
#include "graph/ops.h"

using namespace flowps;
using namespace flowps::testing;

namespace {

constexpr int64_t kBatch = 2, kIn = 3, kHidden = 4;

}  // namespace

TEST_CASE("an LSTM cell unrolled over two steps from the zero state has numerically correct gradients") {
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  auto pool = NewAsioThreadPool(2);
  BuildFn build = [](Graph& g, const std::vector<Output>& in) {
    const LstmCell cell{in[2], in[3], kIn, kHidden};
    return Softmax(LstmUnroll(cell, {in[0], in[1]}).back());
  };
  std::vector<Tensor> inputs{RandomTensor({kBatch, kIn}, 1), RandomTensor({kBatch, kIn}, 2),
                             RandomTensor({kIn + kHidden, 4 * kHidden}, 3), RandomTensor({4 * kHidden}, 4)};
  GradCheckOptions options;
  options.eps = 1e-3f;
  GradCheckResult r = CheckOp(registry, pool.get(), build, inputs, options);
  INFO(r.report);
  CHECK(r.ok);
}

TEST_CASE("an LSTM step follows the cell's formula (gates i, f, o, g; forget bias 1) from the zero state and from "
          "a given state") {
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  auto pool = NewAsioThreadPool(2);
  Graph g(&registry);
  // One example, input width 1, hidden 1: W rows [x; h], columns i, f, o, g.
  const std::vector<float> w{0.5f, -0.3f, 0.8f, 0.2f, -0.4f, 0.6f, 0.1f, 0.9f}, b{0.1f, 0.2f, -0.1f, 0.05f};
  const LstmCell cell{Const(g, Tensor::FromVector<float>(Shape{2, 4}, w)), Const(g, Tensor::FromVector<float>(Shape{4}, b)),
                      1, 1};
  const float x0 = 0.7f, x1 = -0.5f;
  LstmState last;
  std::vector<Output> h = LstmUnroll(cell, {Const(g, Tensor::FromVector<float>(Shape{1, 1}, {x0})),
                                            Const(g, Tensor::FromVector<float>(Shape{1, 1}, {x1}))},
                                     {}, &last);
  REQUIRE(g.status().ok());
  REQUIRE(h.size() == 2);
  CHECK(h[1].node->name().rfind("t1/", 0) == 0);  // step t's nodes in the name scope "t<t>"
  Executor exec(g, pool.get());
  auto r = exec.Run({}, {h[0], h[1], last.c});
  REQUIRE(r.ok());

  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  auto z = [&](int k, double x, double h_prev) { return x * w[k] + h_prev * w[4 + k] + b[k]; };
  const double c0 = sig(z(0, x0, 0)) * std::tanh(z(3, x0, 0));  // the zero state: no forget term
  const double h0 = sig(z(2, x0, 0)) * std::tanh(c0);
  const double c1 = sig(z(1, x1, h0) + 1) * c0 + sig(z(0, x1, h0)) * std::tanh(z(3, x1, h0));
  const double h1 = sig(z(2, x1, h0)) * std::tanh(c1);
  CHECK((*r)[0].data<float>()[0] == Approx(h0).epsilon(1e-5));
  CHECK((*r)[1].data<float>()[0] == Approx(h1).epsilon(1e-5));
  CHECK((*r)[2].data<float>()[0] == Approx(c1).epsilon(1e-5));  // `final` holds the state after the last step
}

TEST_CASE("a tiny CNN (conv, relu, max pool, dense, cross-entropy) has numerically correct gradients") {
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  auto pool = NewAsioThreadPool(2);
  BuildFn build = [](Graph& g, const std::vector<Output>& in) {
    Output labels = Const(g, Tensor::FromVector<int32_t>(Shape{2}, {1, 0}));
    Output conv = Relu(BiasAdd(Conv2D(in[0], in[1], {1, 1}, "SAME"), in[2]));
    Output pooled = MaxPool(conv, {2, 2}, {2, 2}, "VALID");
    Output logits = MatMul(Reshape(pooled, Shape{-1, 3 * 3 * 3}), in[3]);
    return ReduceMean(SparseSoftmaxCrossEntropyWithLogits(logits, labels));
  };
  std::vector<Tensor> inputs{RandomTensor({2, 6, 6, 2}, 5), RandomTensor({3, 3, 2, 3}, 6), RandomTensor({3}, 7),
                             RandomTensor({27, 2}, 8)};
  GradCheckOptions options;
  options.eps = 1e-3f;
  options.inputs = {1, 2, 3};
  GradCheckResult r = CheckOp(registry, pool.get(), build, inputs, options);
  INFO(r.report);
  CHECK(r.ok);
}

// Small models built from the standard ops: an LSTM cell unrolled over two
// steps and a tiny CNN, forward and backward, gradients checked numerically.
#include <catch2/catch.hpp>

#include "core/thread_pool.h"
#include "gradient_checker.h"
#include "graph/ops.h"

using namespace flowps;
using namespace flowps::testing;

namespace {

constexpr int64_t kBatch = 2, kIn = 3, kHidden = 4;

// One LSTM step: gates from [x, h] W + b, split in four along the last axis.
std::pair<Output, Output> LstmCell(Output x, Output h, Output c, Output W, Output b) {
  Output z = BiasAdd(MatMul(Concat({x, h}, 1), W), b);
  std::vector<Output> gate = Split(z, 4, 1);
  Output i = Sigmoid(gate[0]), f = Sigmoid(gate[1]), o = Sigmoid(gate[2]), g = Tanh(gate[3]);
  Output c_next = f * c + i * g;
  return {o * Tanh(c_next), c_next};
}

}  // namespace

TEST_CASE("an LSTM cell unrolled over two steps has numerically correct gradients") {
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  auto pool = NewAsioThreadPool(2);
  BuildFn build = [](Graph& g, const std::vector<Output>& in) {
    Output h = ZerosLike(MatMul(in[0], Slice(in[2], {0, 0}, {kIn, kHidden})));
    Output c = h;
    for (int t = 0; t < 2; ++t) std::tie(h, c) = LstmCell(in[t], h, c, in[2], in[3]);
    return Softmax(h);
  };
  std::vector<Tensor> inputs{RandomTensor({kBatch, kIn}, 1), RandomTensor({kBatch, kIn}, 2),
                             RandomTensor({kIn + kHidden, 4 * kHidden}, 3), RandomTensor({4 * kHidden}, 4)};
  GradCheckOptions options;
  options.eps = 1e-3f;
  GradCheckResult r = CheckOp(registry, pool.get(), build, inputs, options);
  INFO(r.report);
  CHECK(r.ok);
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

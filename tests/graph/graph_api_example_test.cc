// The example of README.md (section "Graph API (C++)"), kept compiling and correct.
#include <catch2/catch.hpp>

#include "core/thread_pool.h"
#include "graph/executor.h"
#include "graph/gradients.h"
#include "graph/ops.h"
#include "graph/variable_store.h"

using namespace flowps;

TEST_CASE("the README example trains softmax regression by gradient descent") {
  // --- begin example ---
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  Graph g(&registry);

  Output x = Placeholder(g, DType::kFloat32, Shape{-1, 2}, "x");
  Output labels = Placeholder(g, DType::kInt32, Shape{-1}, "labels");
  Output W = Variable(g, "W", Shape{2, 2});
  Output b = Variable(g, "b", Shape{2});
  Output logits = MatMul(x, W) + b;
  Output probs = Softmax(logits);
  Output loss = ReduceMean(SparseSoftmaxCrossEntropyWithLogits(logits, labels));

  auto grads = Gradients(loss, {W, b});  // symbolic: adds nodes to g
  REQUIRE(grads.ok());
  Node* train = NoOp(g, {Assign(W, W - 0.5f * (*grads)[0].dense).node,
                         Assign(b, b - 0.5f * (*grads)[1].dense).node});
  REQUIRE(g.status().ok());  // one check for every builder call above

  VariableStore vars;
  vars.Set("W", Tensor::Zeros(DType::kFloat32, Shape{2, 2}));
  vars.Set("b", Tensor::Zeros(DType::kFloat32, Shape{2}));
  auto pool = NewAsioThreadPool(2);
  Executor exec(g, pool.get());

  FeedList batch{{x, Tensor::FromVector<float>(Shape{4, 2}, {1, 0, 2, 1, 0, 1, 1, 3})},
                 {labels, Tensor::FromVector<int32_t>(Shape{4}, {0, 0, 1, 1})}};
  StepOptions step{&vars, nullptr};
  auto before = exec.Run(batch, {loss}, {}, step);
  for (int i = 0; i < 50; ++i) REQUIRE(exec.Run(batch, {}, {train}, step).ok());
  auto after = exec.Run(batch, {loss, probs}, {}, step);
  // --- end example ---
  REQUIRE(before.ok());
  REQUIRE(after.ok());
  CHECK((*before)[0].ToVector<float>()[0] == Approx(std::log(2.0)));
  CHECK((*after)[0].ToVector<float>()[0] < 0.2f);
  std::vector<float> p = (*after)[1].ToVector<float>();
  CHECK(p[0] > 0.5f);  // example 0 is class 0
  CHECK(p[7] > 0.5f);  // example 3 is class 1
}

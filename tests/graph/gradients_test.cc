#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "core/thread_pool.h"
#include "graph/executor.h"
#include "graph/gradient_clipping.h"
#include "graph/gradients.h"
#include "graph/ops.h"
#include "graph/variable_store.h"

using namespace flowps;

namespace {
struct Fixture {
  OpRegistry registry;
  std::unique_ptr<ThreadPool> pool = NewAsioThreadPool(2);
  Graph g{&registry};
  Fixture() { REQUIRE(RegisterStandardOps(&registry).ok()); }
};
Tensor F(std::vector<float> v, Shape s) { return Tensor::FromVector<float>(std::move(s), v); }
}  // namespace

TEST_CASE("gradients from several consumers are summed") {
  Fixture f;
  Output x = Placeholder(f.g, DType::kFloat32, Shape{3}, "x");
  Output loss = ReduceSum(x * x + x * 3.f + Exp(Const(f.g, 0.f)));
  auto grads = Gradients(loss, {x});
  REQUIRE(grads.ok());
  REQUIRE_FALSE((*grads)[0].sparse());
  Executor exec(f.g, f.pool.get());
  auto r = exec.Run({{x, F({1, 2, -1}, Shape{3})}}, {(*grads)[0].dense});
  REQUIRE(r.ok());
  CHECK((*r)[0].ToVector<float>() == std::vector<float>{5, 7, 1});
}

TEST_CASE("the gradient of an embedding lookup is a sparse set of rows") {
  Fixture f;
  VariableStore vars;
  vars.Set("emb", F({0, 1, 2, 3, 4, 5, 6, 7}, Shape{4, 2}));
  Output emb = Variable(f.g, "emb", Shape{4, 2});
  Output ids = Placeholder(f.g, DType::kInt64, Shape{-1}, "ids");
  Output loss = ReduceSum(Gather(emb, ids) * 2.f);
  auto grads = Gradients(loss, {emb});
  REQUIRE(grads.ok());
  const GradValue& g = (*grads)[0];
  REQUIRE(g.sparse());
  CHECK(g.dense_shape == Shape{4, 2});
  Executor exec(f.g, f.pool.get());
  auto r = exec.Run({{ids, Tensor::FromVector<int64_t>(Shape{3}, {3, 1, 3})}}, {g.indices, g.values}, {},
                    StepOptions{&vars, nullptr});
  REQUIRE(r.ok());
  CHECK((*r)[0].ToVector<int64_t>() == std::vector<int64_t>{3, 1, 3});
  CHECK((*r)[1].shape() == Shape{3, 2});
  CHECK((*r)[1].ToVector<float>() == std::vector<float>{2, 2, 2, 2, 2, 2});
}

TEST_CASE("an embedding lookup with a mean combiner over a ragged batch has a sparse gradient of the ids' rows") {
  Fixture f;
  VariableStore vars;
  vars.Set("emb", F({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, Shape{5, 2}));
  Output emb = Variable(f.g, "emb", Shape{5, 2});
  Output ids = Placeholder(f.g, DType::kInt64, Shape{-1}, "ids");
  Output offsets = Placeholder(f.g, DType::kInt64, Shape{-1}, "offsets");
  Output pooled = SegmentCombine(Gather(emb, ids), offsets, "mean");  // [batch, 2]
  Output loss = ReduceSum(pooled * Const(f.g, F({1, 10}, Shape{2})));
  auto grads = Gradients(loss, {emb});
  REQUIRE(grads.ok());
  const GradValue& g = (*grads)[0];
  REQUIRE(g.sparse());  // no dense [5, 2] tensor is built
  Executor exec(f.g, f.pool.get());
  // Example 0 owns ids {4, 1, 4}, example 1 owns {} and example 2 owns {2}.
  FeedList feeds{{ids, Tensor::FromVector<int64_t>(Shape{4}, {4, 1, 4, 2})},
                 {offsets, Tensor::FromVector<int64_t>(Shape{4}, {0, 3, 3, 4})}};
  auto r = exec.Run(feeds, {pooled, g.indices, g.values}, {}, StepOptions{&vars, nullptr});
  REQUIRE(r.ok());
  CHECK((*r)[0].ToVector<float>() == std::vector<float>{(8 + 2 + 8) / 3.f, (9 + 3 + 9) / 3.f, 0, 0, 4, 5});
  CHECK((*r)[1].ToVector<int64_t>() == std::vector<int64_t>{4, 1, 4, 2});
  const std::vector<float> expected{1 / 3.f, 10 / 3.f, 1 / 3.f, 10 / 3.f, 1 / 3.f, 10 / 3.f, 1, 10};
  const std::vector<float> values = (*r)[2].ToVector<float>();
  REQUIRE(values.size() == expected.size());
  for (size_t i = 0; i < values.size(); ++i) CHECK(values[i] == Approx(expected[i]));
}

TEST_CASE("offsets that do not cover the looked-up rows fail the step naming the node") {
  Fixture f;
  Output rows = Placeholder(f.g, DType::kFloat32, Shape{-1, 2}, "rows");
  Output offsets = Placeholder(f.g, DType::kInt64, Shape{-1}, "offsets");
  Output pooled = SegmentCombine(rows, offsets, "sum");
  Executor exec(f.g, f.pool.get());
  auto r = exec.Run({{rows, F({1, 2, 3, 4}, Shape{2, 2})}, {offsets, Tensor::FromVector<int64_t>(Shape{2}, {0, 3})}},
                    {pooled});
  REQUIRE(!r.ok());
  CHECK(r.status().message().find("SegmentCombine") != std::string::npos);
  CHECK(r.status().message().find("offsets must run from 0 to the 2 rows") != std::string::npos);
}

TEST_CASE("sparse gradients from two lookups concatenate; a dense use densifies them") {
  Fixture f;
  Output table = Placeholder(f.g, DType::kFloat32, Shape{3, 1}, "table");
  Output a = Placeholder(f.g, DType::kInt32, Shape{1}, "a");
  Output b = Placeholder(f.g, DType::kInt32, Shape{2}, "b");
  Output sparse_loss = ReduceSum(Gather(table, a)) + ReduceSum(Gather(table, b));
  auto sparse = Gradients(sparse_loss, {table});
  REQUIRE(sparse.ok());
  REQUIRE((*sparse)[0].sparse());

  Output mixed_loss = sparse_loss + ReduceSum(table * 10.f);
  auto mixed = Gradients(mixed_loss, {table});
  REQUIRE(mixed.ok());
  REQUIRE_FALSE((*mixed)[0].sparse());

  Executor exec(f.g, f.pool.get());
  FeedList feeds{{table, F({0, 0, 0}, Shape{3, 1})},
                 {a, Tensor::FromVector<int32_t>(Shape{1}, {2})},
                 {b, Tensor::FromVector<int32_t>(Shape{2}, {2, 0})}};
  auto r = exec.Run(feeds, {(*sparse)[0].indices, DenseGradient((*sparse)[0], table), (*mixed)[0].dense});
  REQUIRE(r.ok());
  CHECK((*r)[0].ToVector<int32_t>() == std::vector<int32_t>{2, 2, 0});
  CHECK((*r)[1].ToVector<float>() == std::vector<float>{1, 0, 2});
  CHECK((*r)[2].ToVector<float>() == std::vector<float>{11, 10, 12});
}

TEST_CASE("a path through an op without a gradient is an error naming the node") {
  Fixture f;
  Output x = Placeholder(f.g, DType::kFloat32, Shape{1, 2, 2, 1}, "x");
  Output pooled = MaxPool(x, {2, 2}, {2, 2}, "VALID");
  Node* grad_node = MaxPoolGrad(x, pooled, {2, 2}, {2, 2}, "VALID").node;
  REQUIRE(grad_node != nullptr);
  Output loss = ReduceSum(grad_node->output(0));
  auto grads = Gradients(loss, {x});
  REQUIRE_FALSE(grads.ok());
  CHECK(grads.status().message().find("'" + grad_node->name() + "'") != std::string::npos);
  CHECK(grads.status().message().find("MaxPoolGrad") != std::string::npos);
}

TEST_CASE("an input the loss does not depend on gets no gradient") {
  Fixture f;
  Output x = Placeholder(f.g, DType::kFloat32, Shape{2}, "x");
  Output unused = Placeholder(f.g, DType::kFloat32, Shape{2}, "unused");
  auto grads = Gradients(ReduceSum(x), {x, unused});
  REQUIRE(grads.ok());
  CHECK((*grads)[0].valid());
  CHECK_FALSE((*grads)[1].valid());
}

TEST_CASE("integer labels get no gradient, logits do") {
  Fixture f;
  Output logits = Placeholder(f.g, DType::kFloat32, Shape{-1, 3}, "logits");
  Output labels = Placeholder(f.g, DType::kInt32, Shape{-1}, "labels");
  Output loss = ReduceMean(SparseSoftmaxCrossEntropyWithLogits(logits, labels));
  auto grads = Gradients(loss, {logits, labels});
  REQUIRE(grads.ok());
  CHECK((*grads)[0].valid());
  CHECK_FALSE((*grads)[1].valid());
  Executor exec(f.g, f.pool.get());
  auto r = exec.Run({{logits, F({0, 0, 0}, Shape{1, 3})}, {labels, Tensor::FromVector<int32_t>(Shape{1}, {1})}},
                    {loss, (*grads)[0].dense});
  REQUIRE(r.ok());
  CHECK((*r)[0].ToVector<float>()[0] == Approx(std::log(3.0)));
  std::vector<float> d = (*r)[1].ToVector<float>();
  CHECK(d[0] == Approx(1.0 / 3));
  CHECK(d[1] == Approx(1.0 / 3 - 1));
}

// ---- ClipByGlobalNorm: gradients scaled together so that their global norm is
// at most clip_norm, direction kept; sparse gradients count their values; a
// non-finite norm gives NaN, never a silently finite step.

namespace {
// Runs `outputs` with a fed [2] and b fed [1].
std::vector<Tensor> Run(Fixture& f, Output a, Output b, const Tensor& va, const Tensor& vb,
                        const std::vector<Output>& outputs) {
  REQUIRE(f.g.status().ok());
  Executor exec(f.g, f.pool.get());
  auto r = exec.Run({{a, va}, {b, vb}}, outputs);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}
}  // namespace

TEST_CASE("gradients above clip_norm are scaled together to a global norm of clip_norm") {
  Fixture f;
  Output a = Placeholder(f.g, DType::kFloat32, Shape{2}, "a");
  Output b = Placeholder(f.g, DType::kFloat32, Shape{1}, "b");
  Output norm;
  std::vector<Output> clipped = ClipByGlobalNorm({a, b}, 6.5f, &norm);
  REQUIRE(clipped.size() == 2);
  // |(3, 4, 12)| = 13: every gradient is halved.
  auto r = Run(f, a, b, F({3, 4}, Shape{2}), F({12}, Shape{1}), {clipped[0], clipped[1], norm});
  CHECK(r[0].ToVector<float>() == std::vector<float>{1.5f, 2.f});
  CHECK(r[1].ToVector<float>() == std::vector<float>{6.f});
  CHECK(r[2].data<float>()[0] == Approx(13.f));
}

TEST_CASE("gradients within clip_norm pass unchanged") {
  Fixture f;
  Output a = Placeholder(f.g, DType::kFloat32, Shape{2}, "a");
  Output b = Placeholder(f.g, DType::kFloat32, Shape{1}, "b");
  std::vector<Output> clipped = ClipByGlobalNorm({a, b}, 20.f);
  auto r = Run(f, a, b, F({3, 4}, Shape{2}), F({-12}, Shape{1}), {clipped[0], clipped[1]});
  CHECK(r[0].ToVector<float>() == std::vector<float>{3.f, 4.f});
  CHECK(r[1].ToVector<float>() == std::vector<float>{-12.f});
}

TEST_CASE("a sparse gradient counts and scales its rows, and a missing one stays missing") {
  Fixture f;
  Output a = Placeholder(f.g, DType::kFloat32, Shape{2}, "a");
  Output rows = Placeholder(f.g, DType::kFloat32, Shape{1}, "rows");
  Output ids = Const(f.g, Tensor::FromVector<int64_t>(Shape{1}, {4}));
  GradValue sparse{{}, ids, rows, Shape{10}};
  ClippedGradients c = ClipByGlobalNorm({GradValue{a, {}, {}, {}}, GradValue{}, sparse}, 6.5f);
  REQUIRE(c.grads.size() == 3);
  CHECK_FALSE(c.grads[1].valid());
  REQUIRE(c.grads[2].sparse());
  CHECK(c.grads[2].indices.node == ids.node);
  auto r = Run(f, a, rows, F({3, 4}, Shape{2}), F({12}, Shape{1}), {c.grads[0].dense, c.grads[2].values});
  CHECK(r[0].ToVector<float>() == std::vector<float>{1.5f, 2.f});
  CHECK(r[1].ToVector<float>() == std::vector<float>{6.f});
}

TEST_CASE("a NaN or infinite gradient makes every clipped gradient NaN") {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    INFO("bad value " << bad);
    Fixture f;
    Output a = Placeholder(f.g, DType::kFloat32, Shape{2}, "a");
    Output b = Placeholder(f.g, DType::kFloat32, Shape{1}, "b");
    std::vector<Output> clipped = ClipByGlobalNorm({a, b}, 1.f);
    auto r = Run(f, a, b, F({3, 4}, Shape{2}), F({bad}, Shape{1}), {clipped[0], clipped[1]});
    CHECK(std::isnan(r[0].data<float>()[0]));
    CHECK(std::isnan(r[0].data<float>()[1]));
    CHECK(std::isnan(r[1].data<float>()[0]));
  }
}

TEST_CASE("a clip_norm that is not positive and finite is refused in the graph's status") {
  for (float bad : {0.f, -1.f, std::numeric_limits<float>::infinity()}) {
    Fixture f;
    Output a = Placeholder(f.g, DType::kFloat32, Shape{2}, "a");
    ClipByGlobalNorm({a}, bad);
    REQUIRE_FALSE(f.g.status().ok());
    CHECK(f.g.status().message().find("clip_norm") != std::string::npos);
  }
}

TEST_CASE("each op's gradient runs on the device the op asked for, the rest in the caller's scope") {
  Fixture f;
  Output x = Placeholder(f.g, DType::kFloat32, Shape{2, 3}, "x");
  Output w = Placeholder(f.g, DType::kFloat32, Shape{3, 3}, "w");
  Output h;
  {
    DeviceScope layer1(f.g, "/device:cpu:1");
    h = Tanh(MatMul(x, w));
  }
  Output loss;
  {
    DeviceScope layer2(f.g, "/device:cpu:2");
    loss = ReduceSum(h * h);
  }
  DeviceScope caller(f.g, "/device:cpu:0");
  auto grads = Gradients(loss, {w});
  REQUIRE(grads.ok());
  // dL/dw is MatMul's gradient (on cpu:1); its input, dL/dh, comes from the square (cpu:2).
  Node* dw = (*grads)[0].dense.node;
  CHECK(dw->requested_device() == "/device:cpu:1");
  std::map<std::string, int> by_device;
  for (const auto& n : f.g.nodes())
    if (n->name().rfind("gradients/", 0) == 0) ++by_device[n->requested_device()];
  CHECK(by_device.count("/device:cpu:1") == 1);
  CHECK(by_device.count("/device:cpu:2") == 1);
  CHECK(by_device.count("") == 0);
}

// Every op: its symbolic gradient against central differences, and its shape
// function against the shapes its kernel produced.
#include <catch2/catch.hpp>

#include <set>

#include "core/thread_pool.h"
#include "gradient_checker.h"
#include "graph/ops.h"

using namespace flowps;
using namespace flowps::testing;

namespace {

struct Case {
  std::string name;
  std::vector<std::string> ops;  // the ops this case exercises
  BuildFn build;
  std::vector<Tensor> inputs;
  GradCheckOptions options;
};

Tensor R(Shape s, uint32_t seed = 1) { return RandomTensor(std::move(s), seed); }
Tensor Positive(Shape s, uint32_t seed = 2) { return RandomTensor(std::move(s), seed, 0.5f, 2.f); }
GradCheckOptions Only(std::vector<int> inputs) {
  GradCheckOptions o;
  o.inputs = std::move(inputs);
  return o;
}
GradCheckOptions ShapeOnly() {
  GradCheckOptions o;
  o.shape_only = true;
  return o;
}
GradCheckOptions UnknownBatch() {
  GradCheckOptions o;
  o.unknown_first_dim = true;
  return o;
}

std::vector<Case> Cases() {
  using In = const std::vector<Output>&;
  std::vector<Case> c;
  auto add = [&](std::string name, std::vector<std::string> ops, BuildFn b, std::vector<Tensor> in,
                 GradCheckOptions o = {}) { c.push_back({std::move(name), std::move(ops), std::move(b), std::move(in), o}); };

  add("Const", {"Const"}, [](Graph& g, In) { return Const(g, R({2, 3})); }, {}, ShapeOnly());
  add("Placeholder", {"Placeholder"}, [](Graph&, In x) { return x[0]; }, {R({2, 3})});
  add("Identity", {"Identity"}, [](Graph&, In x) { return Identity(x[0]); }, {R({2, 3})});
  add("ZerosLike", {"ZerosLike"}, [](Graph&, In x) { return ZerosLike(x[0]); }, {R({2, 3})}, ShapeOnly());
  add("OnesLike", {"OnesLike"}, [](Graph&, In x) { return OnesLike(x[0]); }, {R({2, 3})}, ShapeOnly());

  add("Add same shape", {"Add"}, [](Graph&, In x) { return x[0] + x[1]; }, {R({2, 3}), R({2, 3}, 3)});
  add("Add broadcasts a row", {"Add", "SumToShape"}, [](Graph&, In x) { return x[0] + x[1]; }, {R({2, 3}), R({3}, 3)});
  add("Add broadcasts a column against a row", {"Add"}, [](Graph&, In x) { return x[0] + x[1]; },
      {R({2, 1}), R({1, 3}, 3)});
  add("Add a scalar", {"Add"}, [](Graph&, In x) { return x[0] + x[1]; }, {R({2, 3}), R({}, 3)});
  add("Add with an unknown batch dim", {"Add"}, [](Graph&, In x) { return x[0] + x[1]; }, {R({2, 3}), R({1, 3}, 3)},
      UnknownBatch());
  add("Sub broadcasts", {"Sub"}, [](Graph&, In x) { return x[0] - x[1]; }, {R({2, 3}), R({2, 1}, 3)});
  add("Mul broadcasts", {"Mul"}, [](Graph&, In x) { return x[0] * x[1]; }, {R({2, 3}), R({3}, 3)});
  add("Div broadcasts", {"Div"}, [](Graph&, In x) { return x[0] / x[1]; }, {R({2, 3}), Positive({3})});
  add("Neg", {"Neg"}, [](Graph&, In x) { return -x[0]; }, {R({2, 3})});
  add("Square", {"Square"}, [](Graph&, In x) { return Square(x[0]); }, {R({2, 3})});
  add("Sqrt", {"Sqrt", "SqrtGrad"}, [](Graph&, In x) { return Sqrt(x[0]); }, {Positive({2, 3})});
  add("Exp", {"Exp"}, [](Graph&, In x) { return Exp(x[0]); }, {R({2, 3})});
  add("Log", {"Log"}, [](Graph&, In x) { return Log(x[0]); }, {Positive({2, 3})});
  add("Relu", {"Relu", "ReluGrad"}, [](Graph&, In x) { return Relu(x[0]); }, {AwayFromZeroTensor({2, 3}, 4)});
  add("Sigmoid", {"Sigmoid", "SigmoidGrad"}, [](Graph&, In x) { return Sigmoid(x[0]); }, {R({2, 3})});
  add("Tanh", {"Tanh", "TanhGrad"}, [](Graph&, In x) { return Tanh(x[0]); }, {R({2, 3})});
  add("ReluGrad", {"ReluGrad"}, [](Graph&, In x) { return ReluGrad(x[0], x[1]); },
      {R({2, 3}), AwayFromZeroTensor({2, 3}, 5)}, Only({0}));
  add("SigmoidGrad", {"SigmoidGrad"}, [](Graph&, In x) { return SigmoidGrad(x[0], x[1]); },
      {RandomTensor({2, 3}, 6, 0.1f, 0.9f), R({2, 3})});
  add("TanhGrad", {"TanhGrad"}, [](Graph&, In x) { return TanhGrad(x[0], x[1]); },
      {RandomTensor({2, 3}, 6, -0.9f, 0.9f), R({2, 3})});
  add("SqrtGrad", {"SqrtGrad"}, [](Graph&, In x) { return SqrtGrad(x[0], x[1]); }, {Positive({2, 3}), R({2, 3})});

  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Shape a = ta ? Shape{3, 2} : Shape{2, 3}, b = tb ? Shape{4, 3} : Shape{3, 4};
      add(std::string("MatMul ta=") + (ta ? "1" : "0") + " tb=" + (tb ? "1" : "0"), {"MatMul"},
          [ta, tb](Graph&, In x) { return MatMul(x[0], x[1], ta, tb); }, {R(a), R(b, 3)});
    }
  add("BiasAdd", {"BiasAdd"}, [](Graph&, In x) { return BiasAdd(x[0], x[1]); }, {R({2, 3, 4}), R({4}, 3)});
  add("BiasAdd with an unknown batch", {"BiasAdd"}, [](Graph&, In x) { return BiasAdd(x[0], x[1]); },
      {R({3, 4}), R({4}, 3)}, UnknownBatch());

  add("ReduceSum over one axis", {"ReduceSum", "ExpandReduced"}, [](Graph&, In x) { return ReduceSum(x[0], {1}); },
      {R({2, 3, 4})});
  add("ReduceSum keep_dims", {"ReduceSum"}, [](Graph&, In x) { return ReduceSum(x[0], {0, 2}, true); }, {R({2, 3, 4})});
  add("ReduceSum over all", {"ReduceSum"}, [](Graph&, In x) { return ReduceSum(x[0]); }, {R({2, 3})});
  add("ReduceMean over the last axis", {"ReduceMean"}, [](Graph&, In x) { return ReduceMean(x[0], {-1}); },
      {R({2, 3, 4})});
  add("ReduceMean with an unknown batch", {"ReduceMean"}, [](Graph&, In x) { return ReduceMean(x[0], {0}); },
      {R({3, 4})}, UnknownBatch());
  add("ReduceMax", {"ReduceMax", "ReduceMaxGrad"}, [](Graph&, In x) { return ReduceMax(x[0], {1}); },
      {DistinctTensor({2, 5, 3}, 8)});
  add("ReduceMaxGrad", {"ReduceMaxGrad"}, [](Graph&, In x) { return ReduceMaxGrad(x[0], x[1], x[2], {1}); },
      {R({2, 3}), R({2}), R({2})}, ShapeOnly());
  add("ExpandReduced", {"ExpandReduced"},
      [](Graph&, In x) { return ExpandReduced(x[0], x[1], {1}, false); }, {R({2, 4}), R({2, 3, 4})}, Only({0}));
  add("ExpandReduced for a mean", {"ExpandReduced"},
      [](Graph&, In x) { return ExpandReduced(x[0], x[1], {0, 2}, true); }, {R({1, 3, 1}), R({2, 3, 4})}, Only({0}));
  add("SumToShape", {"SumToShape", "BroadcastLike"}, [](Graph&, In x) { return SumToShape(x[0], x[1]); },
      {R({2, 3}), R({3})}, Only({0}));
  add("BroadcastLike", {"BroadcastLike"}, [](Graph&, In x) { return BroadcastLike(x[0], x[1]); },
      {R({2, 1}), R({2, 3})}, Only({0}));

  add("ArgMax", {"ArgMax"}, [](Graph&, In x) { return Cast(ArgMax(x[0], -1), DType::kFloat32); },
      {DistinctTensor({2, 3, 4}, 12)}, ShapeOnly());
  add("Cast float to float", {"Cast"}, [](Graph&, In x) { return Cast(x[0], DType::kFloat32); }, {R({2, 3})});
  add("Reshape", {"Reshape", "ReshapeLike"}, [](Graph&, In x) { return Reshape(x[0], Shape{3, -1}); }, {R({2, 3, 2})});
  add("ReshapeLike", {"ReshapeLike"}, [](Graph&, In x) { return ReshapeLike(x[0], x[1]); }, {R({2, 3}), R({3, 2})},
      Only({0}));
  add("Transpose", {"Transpose"}, [](Graph&, In x) { return Transpose(x[0], {2, 0, 1}); }, {R({2, 3, 4})});
  add("Concat along axis 1", {"Concat", "Slice"}, [](Graph&, In x) { return Concat({x[0], x[1]}, 1); },
      {R({2, 2}), R({2, 3}, 3)});
  add("Split into three, one part unused", {"Split", "Concat", "ZerosLike"},
      [](Graph&, In x) {
        auto p = Split(x[0], 3, 1);
        return p[0] * p[2] + p[0];
      },
      {R({2, 6})});
  add("Split along the last axis, parts reordered", {"Split"},
      [](Graph&, In x) {
        auto p = Split(x[0], 2, -1);
        return Concat({p[1], p[0]}, 1);
      },
      {R({3, 4})}, UnknownBatch());
  add("Concat along axis 0 of three", {"Concat"}, [](Graph&, In x) { return Concat({x[0], x[1], x[2]}, 0); },
      {R({1, 3}), R({2, 3}, 3), R({1, 3}, 4)});
  add("Slice", {"Slice", "SliceGrad"}, [](Graph&, In x) { return Slice(x[0], {1, 1}, {2, -1}); }, {R({3, 4})});
  add("SliceGrad", {"SliceGrad"}, [](Graph&, In x) { return SliceGrad(x[0], x[1], {1, 1}); }, {R({2, 3}), R({3, 4})},
      Only({0}));

  add("Softmax", {"Softmax"}, [](Graph&, In x) { return Softmax(x[0]); }, {R({2, 5})});
  add("SparseSoftmaxCrossEntropyWithLogits int32", {"SparseSoftmaxCrossEntropyWithLogits"},
      [](Graph&, In x) { return SparseSoftmaxCrossEntropyWithLogits(x[0], x[1]); },
      {R({3, 4}), Tensor::FromVector<int32_t>(Shape{3}, {0, 3, 1})}, Only({0}));
  add("SparseSoftmaxCrossEntropyWithLogits int64", {"SparseSoftmaxCrossEntropyWithLogits"},
      [](Graph&, In x) { return SparseSoftmaxCrossEntropyWithLogits(x[0], x[1]); },
      {R({2, 3}), Tensor::FromVector<int64_t>(Shape{2}, {2, 2})}, Only({0}));
  add("LogSumExp over the last axis", {"LogSumExp"}, [](Graph&, In x) { return LogSumExp(x[0]); }, {R({2, 3, 5})},
      UnknownBatch());
  add("PickColumn of a part, some labels in other parts", {"PickColumn", "PickColumnGrad"},
      [](Graph&, In x) { return PickColumn(x[0], x[1], 2, 7); },
      {R({4, 3}), Tensor::FromVector<int32_t>(Shape{4}, {2, 0, 4, 6})}, Only({0}));
  add("PickColumn int64 labels", {"PickColumn"}, [](Graph&, In x) { return PickColumn(x[0], x[1], 0, 3); },
      {R({2, 3}), Tensor::FromVector<int64_t>(Shape{2}, {1, 2})}, Only({0}));
  add("PickColumnGrad", {"PickColumnGrad"}, [](Graph&, In x) { return PickColumnGrad(x[0], x[1], x[2], 1); },
      {R({3, 1}), Tensor::FromVector<int32_t>(Shape{3}, {1, 3, 0}), R({3, 2})}, ShapeOnly());
  add("a split softmax's loss: LogSumExp of the parts' LogSumExp minus the picked logits",
      {"LogSumExp", "PickColumn", "Concat"},
      [](Graph& g, In x) {
        Output labels = Const(g, Tensor::FromVector<int32_t>(Shape{3}, {0, 4, 2}));
        Output a = Slice(x[0], {0, 0}, {-1, 2}), b = Slice(x[0], {0, 2}, {-1, 3});
        Output lse = LogSumExp(Concat({LogSumExp(a), LogSumExp(b)}, 1));
        return lse - PickColumn(a, labels, 0, 5) - PickColumn(b, labels, 2, 5);
      },
      {R({3, 5})});
  add("Gather with repeated indices", {"Gather", "SparseToDense"}, [](Graph&, In x) { return Gather(x[0], x[1]); },
      {R({5, 3}), Tensor::FromVector<int32_t>(Shape{4}, {4, 0, 4, 2})}, Only({0}));
  add("Gather with rank-2 int64 indices", {"Gather"}, [](Graph&, In x) { return Gather(x[0], x[1]); },
      {R({4, 2}), Tensor::FromVector<int64_t>(Shape{2, 2}, {1, 3, 3, 0})}, Only({0}));
  const Tensor offsets = Tensor::FromVector<int64_t>(Shape{4}, {0, 2, 2, 5});  // an empty example too
  add("SegmentCombine sum", {"SegmentCombine", "SegmentExpand"},
      [](Graph&, In x) { return SegmentCombine(x[0], x[1], "sum"); }, {R({5, 3}), offsets}, Only({0}));
  add("SegmentCombine mean", {"SegmentCombine", "SegmentExpand"},
      [](Graph&, In x) { return SegmentCombine(x[0], x[1], "mean"); }, {R({5, 3}), offsets}, Only({0}));
  add("SegmentExpand mean", {"SegmentExpand", "SegmentCombine"},
      [](Graph&, In x) { return SegmentExpand(x[0], x[1], "mean"); }, {R({3, 2}), offsets}, [] {
        GradCheckOptions o = Only({0});
        o.unknown_first_dim = true;  // the number of rows is the last offset: known when the step runs
        return o;
      }());
  add("SparseToDense", {"SparseToDense", "Gather"}, [](Graph&, In x) { return SparseToDense(x[0], x[1], x[2]); },
      {Tensor::FromVector<int32_t>(Shape{3}, {2, 0, 2}), R({3, 2}), R({4, 2})}, Only({1}));

  add("Conv2D SAME stride 1", {"Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"},
      [](Graph&, In x) { return Conv2D(x[0], x[1], {1, 1}, "SAME"); }, {R({2, 5, 5, 2}), R({3, 3, 2, 3}, 3)});
  add("Conv2D VALID stride 2", {"Conv2D"}, [](Graph&, In x) { return Conv2D(x[0], x[1], {2, 2}, "VALID"); },
      {R({1, 6, 5, 2}), R({2, 3, 2, 2}, 3)});
  add("Conv2DBackpropInput", {"Conv2DBackpropInput"},
      [](Graph&, In x) { return Conv2DBackpropInput(x[0], x[1], x[2], {1, 1}, "SAME"); },
      {R({1, 4, 4, 2}), R({2, 2, 2, 3}, 3), R({1, 4, 4, 3}, 4)}, Only({1, 2}));
  add("Conv2DBackpropFilter", {"Conv2DBackpropFilter"},
      [](Graph&, In x) { return Conv2DBackpropFilter(x[0], x[1], x[2], {2, 2}, "SAME"); },
      {R({1, 4, 4, 2}), R({2, 2, 2, 3}, 3), R({1, 2, 2, 3}, 4)}, Only({0, 2}));
  add("MaxPool VALID", {"MaxPool", "MaxPoolGrad"}, [](Graph&, In x) { return MaxPool(x[0], {2, 2}, {2, 2}, "VALID"); },
      {DistinctTensor({1, 4, 4, 2}, 9)});
  add("MaxPool SAME overlapping", {"MaxPool"}, [](Graph&, In x) { return MaxPool(x[0], {3, 3}, {2, 2}, "SAME"); },
      {DistinctTensor({2, 5, 5, 1}, 10)});
  add("MaxPoolGrad", {"MaxPoolGrad"},
      [](Graph&, In x) { return MaxPoolGrad(x[0], x[1], {2, 2}, {2, 2}, "VALID"); },
      {DistinctTensor({1, 4, 4, 2}, 11), R({1, 2, 2, 2})}, ShapeOnly());
  return c;
}

}  // namespace

TEST_CASE("every op's gradient matches central differences and its shape function matches its kernel") {
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  auto pool = NewAsioThreadPool(2);
  for (const Case& c : Cases()) {
    GradCheckResult r = CheckOp(registry, pool.get(), c.build, c.inputs, c.options);
    INFO(c.name << ": " << r.report << " (max error " << r.max_error << ")");
    CHECK(r.ok);
  }
}

TEST_CASE("every registered op is covered by a gradient or shape check") {
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  std::set<std::string> covered;
  for (const Case& c : Cases()) covered.insert(c.ops.begin(), c.ops.end());
  // Stateful and output-less ops are checked by executor_test.cc instead, and
  // Send/Recv (no gradient: partition inserts them after autodiff) by partition_test.cc.
  for (const char* op : {"NoOp", "Variable", "Assign", "Send", "Recv"}) covered.insert(op);
  for (const std::string& op : registry.OpNames()) {
    INFO("op " << op);
    CHECK(covered.count(op) == 1);
  }
}

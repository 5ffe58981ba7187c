#include "graph/ops.h"

namespace flowps {
namespace {

// Adds an op over `inputs` to their graph; invalid if an input is (an earlier error).
Output Make(const std::string& op, std::vector<Output> inputs, AttrMap attrs = {}) {
  for (const Output& in : inputs)
    if (!in.valid()) return {};
  Node* n = inputs[0].graph()->AddNodeOrRecord(NodeSpec{op, "", std::move(inputs), {}, std::move(attrs), ""});
  return n == nullptr ? Output{} : n->output(0);
}

Output MakeSource(Graph& g, const std::string& op, const std::string& name, AttrMap attrs) {
  Node* n = g.AddNodeOrRecord(NodeSpec{op, name, {}, {}, std::move(attrs), ""});
  return n == nullptr ? Output{} : n->output(0);
}

Output ScalarLike(Output x, float v) { return x.valid() ? Const(*x.graph(), v) : Output{}; }

AttrMap WindowAttrs(std::vector<int64_t> strides, const std::string& padding) {
  return {{"strides", std::move(strides)}, {"padding", padding}};
}

}  // namespace

Output Const(Graph& g, Tensor value, const std::string& name) { return MakeSource(g, "Const", name, {{"value", value}}); }
Output Const(Graph& g, float value) { return Const(g, Tensor::Scalar<float>(value)); }

Output Placeholder(Graph& g, DType dtype, Shape shape, const std::string& name) {
  return MakeSource(g, "Placeholder", name, {{"dtype", dtype}, {"shape", std::move(shape)}});
}

Output Variable(Graph& g, const std::string& name, Shape shape, DType dtype) {
  return MakeSource(g, "Variable", name,
                    {{"var_name", g.ScopedName(name)}, {"dtype", dtype}, {"shape", std::move(shape)}});
}

Output Assign(Output variable, Output value) {
  if (!variable.valid() || !value.valid()) return {};
  if (variable.node->op() != "Variable") {
    variable.graph()->RecordError(InvalidArgument("Assign: node '" + variable.node->name() + "' is not a Variable"));
    return {};
  }
  AttrMap attrs = variable.node->attrs();
  return Make("Assign", {value}, std::move(attrs));
}

Output Identity(Output x) { return Make("Identity", {x}); }

Node* NoOp(Graph& g, const std::vector<Node*>& deps, const std::string& name) {
  for (Node* d : deps)
    if (d == nullptr) return nullptr;
  return g.AddNodeOrRecord(NodeSpec{"NoOp", name, {}, deps, {}, ""});
}

Output ZerosLike(Output x) { return Make("ZerosLike", {x}); }
Output OnesLike(Output x) { return Make("OnesLike", {x}); }

Output Add(Output a, Output b) { return Make("Add", {a, b}); }
Output Sub(Output a, Output b) { return Make("Sub", {a, b}); }
Output Mul(Output a, Output b) { return Make("Mul", {a, b}); }
Output Div(Output a, Output b) { return Make("Div", {a, b}); }
Output Neg(Output x) { return Make("Neg", {x}); }
Output Square(Output x) { return Make("Square", {x}); }
Output Sqrt(Output x) { return Make("Sqrt", {x}); }
Output Exp(Output x) { return Make("Exp", {x}); }
Output Log(Output x) { return Make("Log", {x}); }
Output Relu(Output x) { return Make("Relu", {x}); }
Output Sigmoid(Output x) { return Make("Sigmoid", {x}); }
Output Tanh(Output x) { return Make("Tanh", {x}); }

Output operator+(Output a, Output b) { return Add(a, b); }
Output operator-(Output a, Output b) { return Sub(a, b); }
Output operator*(Output a, Output b) { return Mul(a, b); }
Output operator/(Output a, Output b) { return Div(a, b); }
Output operator-(Output x) { return Neg(x); }
Output operator+(Output a, float b) { return Add(a, ScalarLike(a, b)); }
Output operator-(Output a, float b) { return Sub(a, ScalarLike(a, b)); }
Output operator*(Output a, float b) { return Mul(a, ScalarLike(a, b)); }
Output operator/(Output a, float b) { return Div(a, ScalarLike(a, b)); }
Output operator+(float a, Output b) { return Add(ScalarLike(b, a), b); }
Output operator-(float a, Output b) { return Sub(ScalarLike(b, a), b); }
Output operator*(float a, Output b) { return Mul(ScalarLike(b, a), b); }
Output operator/(float a, Output b) { return Div(ScalarLike(b, a), b); }

Output MatMul(Output a, Output b, bool transpose_a, bool transpose_b) {
  return Make("MatMul", {a, b}, {{"transpose_a", transpose_a}, {"transpose_b", transpose_b}});
}
Output BiasAdd(Output x, Output b) { return Make("BiasAdd", {x, b}); }
Output ReduceSum(Output x, std::vector<int64_t> axes, bool keep_dims) {
  return Make("ReduceSum", {x}, {{"axes", std::move(axes)}, {"keep_dims", keep_dims}});
}
Output ReduceMean(Output x, std::vector<int64_t> axes, bool keep_dims) {
  return Make("ReduceMean", {x}, {{"axes", std::move(axes)}, {"keep_dims", keep_dims}});
}
Output ReduceMax(Output x, std::vector<int64_t> axes, bool keep_dims) {
  return Make("ReduceMax", {x}, {{"axes", std::move(axes)}, {"keep_dims", keep_dims}});
}
Output ArgMax(Output x, int64_t axis) { return Make("ArgMax", {x}, {{"axis", axis}}); }

Output Reshape(Output x, Shape shape) { return Make("Reshape", {x}, {{"shape", std::move(shape)}}); }
Output Transpose(Output x, std::vector<int64_t> perm) { return Make("Transpose", {x}, {{"perm", std::move(perm)}}); }
Output Concat(const std::vector<Output>& parts, int64_t axis) {
  if (parts.empty()) return {};
  return Make("Concat", parts, {{"axis", axis}});
}
Output Slice(Output x, std::vector<int64_t> begin, std::vector<int64_t> size) {
  return Make("Slice", {x}, {{"begin", std::move(begin)}, {"size", std::move(size)}});
}
Output SegmentCombine(Output rows, Output offsets, const std::string& combiner) {
  return Make("SegmentCombine", {rows, offsets}, {{"combiner", combiner}});
}
Output SegmentExpand(Output per_example, Output offsets, const std::string& combiner) {
  return Make("SegmentExpand", {per_example, offsets}, {{"combiner", combiner}});
}
Output Cast(Output x, DType to) { return Make("Cast", {x}, {{"dtype", to}}); }

Output Softmax(Output logits) { return Make("Softmax", {logits}); }
std::vector<Output> Split(Output x, int64_t num_split, int64_t axis) {
  Output first = Make("Split", {x}, {{"num_split", num_split}, {"axis", axis}});
  std::vector<Output> parts;
  if (!first.valid()) return parts;
  for (int i = 0; i < first.node->num_outputs(); ++i) parts.push_back(first.node->output(i));
  return parts;
}
Output SparseSoftmaxCrossEntropyWithLogits(Output logits, Output labels) {
  return Make("SparseSoftmaxCrossEntropyWithLogits", {logits, labels});
}
Output LogSumExp(Output x) { return Make("LogSumExp", {x}); }
Output PickColumn(Output part_logits, Output labels, int64_t offset, int64_t vocab) {
  return Make("PickColumn", {part_logits, labels}, {{"offset", offset}, {"vocab", vocab}});
}
Output Gather(Output params, Output indices) { return Make("Gather", {params, indices}); }
Output Conv2D(Output x, Output filter, std::vector<int64_t> strides, const std::string& padding) {
  return Make("Conv2D", {x, filter}, WindowAttrs(std::move(strides), padding));
}
Output MaxPool(Output x, std::vector<int64_t> ksize, std::vector<int64_t> strides, const std::string& padding) {
  AttrMap attrs = WindowAttrs(std::move(strides), padding);
  attrs["ksize"] = std::move(ksize);
  return Make("MaxPool", {x}, std::move(attrs));
}

Output ReshapeLike(Output x, Output like) { return Make("ReshapeLike", {x, like}); }
Output SumToShape(Output x, Output like) { return Make("SumToShape", {x, like}); }
Output BroadcastLike(Output x, Output like) { return Make("BroadcastLike", {x, like}); }
Output ExpandReduced(Output dy, Output like, std::vector<int64_t> axes, bool mean) {
  return Make("ExpandReduced", {dy, like}, {{"axes", std::move(axes)}, {"mean", mean}});
}
Output ReduceMaxGrad(Output x, Output y, Output dy, std::vector<int64_t> axes) {
  return Make("ReduceMaxGrad", {x, y, dy}, {{"axes", std::move(axes)}});
}
Output SliceGrad(Output dy, Output like, std::vector<int64_t> begin) {
  return Make("SliceGrad", {dy, like}, {{"begin", std::move(begin)}});
}
Output SparseToDense(Output indices, Output values, Output like) {
  return Make("SparseToDense", {indices, values, like});
}
Output PickColumnGrad(Output dy, Output labels, Output like, int64_t offset) {
  return Make("PickColumnGrad", {dy, labels, like}, {{"offset", offset}});
}
Output ReluGrad(Output dy, Output x) { return Make("ReluGrad", {dy, x}); }
Output SigmoidGrad(Output y, Output dy) { return Make("SigmoidGrad", {y, dy}); }
Output TanhGrad(Output y, Output dy) { return Make("TanhGrad", {y, dy}); }
Output SqrtGrad(Output y, Output dy) { return Make("SqrtGrad", {y, dy}); }
Output Conv2DBackpropInput(Output x_like, Output filter, Output dy, std::vector<int64_t> strides,
                           const std::string& padding) {
  return Make("Conv2DBackpropInput", {x_like, filter, dy}, WindowAttrs(std::move(strides), padding));
}
Output Conv2DBackpropFilter(Output x, Output filter_like, Output dy, std::vector<int64_t> strides,
                            const std::string& padding) {
  return Make("Conv2DBackpropFilter", {x, filter_like, dy}, WindowAttrs(std::move(strides), padding));
}
Output MaxPoolGrad(Output x, Output dy, std::vector<int64_t> ksize, std::vector<int64_t> strides,
                   const std::string& padding) {
  AttrMap attrs = WindowAttrs(std::move(strides), padding);
  attrs["ksize"] = std::move(ksize);
  return Make("MaxPoolGrad", {x, dy}, std::move(attrs));
}

}  // namespace flowps

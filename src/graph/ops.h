// The builder API: free functions that add nodes to a Graph and read like the math,
//
//   Output x = Placeholder(g, DType::kFloat32, Shape{-1, 784}, "x");
//   Output W = Variable(g, "W", Shape{784, 10});
//   Output b = Variable(g, "b", Shape{10});
//   Output y = Softmax(MatMul(x, W) + b);
//
// Functions taking Outputs add to the Graph of their first input. An error (an
// unknown attribute, dtypes or shapes that do not fit) is recorded in
// graph.status() and yields an invalid Output; every later call on an invalid
// Output does nothing, so the caller checks graph.status() once at the end.
// Not thread-safe: build a graph from one thread.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "graph/graph.h"

namespace flowps {

// ---- Sources and structure -------------------------------------------------
Output Const(Graph& g, Tensor value, const std::string& name = "");
Output Const(Graph& g, float value);  // a float32 scalar
// Must be fed; -1 dims accept any size.
Output Placeholder(Graph& g, DType dtype, Shape shape, const std::string& name = "");
// Reads variable `name` (under the current name scopes) from the step's
// variable store. The node is named like the variable when that name is free.
Output Variable(Graph& g, const std::string& name, Shape shape, DType dtype = DType::kFloat32);
// Stages `value` as the new value of the variable `variable` reads; it is
// committed only when the whole step succeeds. Returns `value`.
Output Assign(Output variable, Output value);
Output Identity(Output x);
// A node with no outputs that runs after `deps`: a target grouping updates.
Node* NoOp(Graph& g, const std::vector<Node*>& deps, const std::string& name = "");
Output ZerosLike(Output x);
Output OnesLike(Output x);

// ---- Element-wise, float32, numpy broadcasting ----------------------------
Output Add(Output a, Output b);
Output Sub(Output a, Output b);
Output Mul(Output a, Output b);
Output Div(Output a, Output b);
Output Neg(Output x);
Output Square(Output x);
Output Sqrt(Output x);
Output Exp(Output x);
Output Log(Output x);
Output Relu(Output x);
Output Sigmoid(Output x);
Output Tanh(Output x);

Output operator+(Output a, Output b);
Output operator-(Output a, Output b);
Output operator*(Output a, Output b);
Output operator/(Output a, Output b);
Output operator-(Output x);
Output operator+(Output a, float b);
Output operator-(Output a, float b);
Output operator*(Output a, float b);
Output operator/(Output a, float b);
Output operator+(float a, Output b);
Output operator-(float a, Output b);
Output operator*(float a, Output b);
Output operator/(float a, Output b);

// ---- Matrices and reductions ----------------------------------------------
Output MatMul(Output a, Output b, bool transpose_a = false, bool transpose_b = false);
// x [..., C] + b [C].
Output BiasAdd(Output x, Output b);
// Over `axes` (negative counts from the end; empty: all axes).
Output ReduceSum(Output x, std::vector<int64_t> axes = {}, bool keep_dims = false);
Output ReduceMean(Output x, std::vector<int64_t> axes = {}, bool keep_dims = false);
Output ReduceMax(Output x, std::vector<int64_t> axes = {}, bool keep_dims = false);
// The int64 index of the largest element along `axis` (e.g. the predicted class).
Output ArgMax(Output x, int64_t axis);

// ---- Shapes -----------------------------------------------------------------
// One dim may be -1: inferred from the element count.
Output Reshape(Output x, Shape shape);
Output Transpose(Output x, std::vector<int64_t> perm);
Output Concat(const std::vector<Output>& parts, int64_t axis);
// size -1 along a dim: to its end.
Output Slice(Output x, std::vector<int64_t> begin, std::vector<int64_t> size);
// x cut into num_split equal parts along axis (e.g. an LSTM's four gates):
// num_split outputs of one node, or an empty list after an error.
std::vector<Output> Split(Output x, int64_t num_split, int64_t axis);
// float32 / int32 / int64 conversion; differentiable from float32 to float32 only.
Output Cast(Output x, DType to);

// ---- Losses, embeddings, convolutions --------------------------------------
Output Softmax(Output logits);  // over the last axis
// logits [N, C], labels [N] (int32 or int64): the per-example loss [N]. Output 1
// of the same node is the gradient wrt the logits (softmax - onehot).
Output SparseSoftmaxCrossEntropyWithLogits(Output logits, Output labels);
// A softmax split by columns over devices, as on the slide: part p holds
// columns [offset_p, offset_p + C_p) of a vocabulary of `vocab`, and
//   loss_i = LogSumExp(Concat({LogSumExp(part_p)}, 1))_i - sum_p PickColumn(part_p, labels, offset_p, vocab)_i
// LogSumExp: log(sum(exp(x))) over the last axis, kept as a dim of 1 ([..., C] -> [..., 1]).
Output LogSumExp(Output x);
// part_logits [N, C], labels [N] int32/int64 -> [N, 1]: the logit of row i's
// label when this part holds it, else 0. A label outside [0, vocab) fails the step.
Output PickColumn(Output part_logits, Output labels, int64_t offset, int64_t vocab);
// Rows of params [V, ...] picked by indices (int32/int64): indices.shape ++ params.shape[1:].
// Its gradient wrt params is sparse (the picked rows).
Output Gather(Output params, Output indices);
// Sum or mean ("sum" | "mean") of each example's rows of `rows` [n, d...] by a
// ragged batch's int64 offsets [batch + 1]: [batch, d...]. The combiner of an
// embedding lookup: SegmentCombine(Gather(table, ids), offsets, "mean").
Output SegmentCombine(Output rows, Output offsets, const std::string& combiner);
// x [N,H,W,C], filter [KH,KW,C,O]; strides {sh, sw}; padding "SAME" or "VALID".
Output Conv2D(Output x, Output filter, std::vector<int64_t> strides, const std::string& padding);
// ksize {kh, kw} over x [N,H,W,C].
Output MaxPool(Output x, std::vector<int64_t> ksize, std::vector<int64_t> strides, const std::string& padding);

// ---- Helpers that gradients are built from ---------------------------------
// These take a `like` input whose shape (known when the step runs) they use.
Output ReshapeLike(Output x, Output like);
Output SumToShape(Output x, Output like);     // sums broadcast dims away
Output BroadcastLike(Output x, Output like);  // broadcasts x to like's shape
Output ExpandReduced(Output dy, Output like, std::vector<int64_t> axes, bool mean);
Output ReduceMaxGrad(Output x, Output y, Output dy, std::vector<int64_t> axes);
Output SliceGrad(Output dy, Output like, std::vector<int64_t> begin);
Output SparseToDense(Output indices, Output values, Output like);  // adds rows into zeros
// Its adjoint (and gradient): each row of example i gets per_example[i] (mean: / length).
Output SegmentExpand(Output per_example, Output offsets, const std::string& combiner);
Output PickColumnGrad(Output dy, Output labels, Output like, int64_t offset);  // PickColumn's gradient
Output ReluGrad(Output dy, Output x);
Output SigmoidGrad(Output y, Output dy);
Output TanhGrad(Output y, Output dy);
Output SqrtGrad(Output y, Output dy);
Output Conv2DBackpropInput(Output x_like, Output filter, Output dy, std::vector<int64_t> strides,
                           const std::string& padding);
Output Conv2DBackpropFilter(Output x, Output filter_like, Output dy, std::vector<int64_t> strides,
                            const std::string& padding);
Output MaxPoolGrad(Output x, Output dy, std::vector<int64_t> ksize, std::vector<int64_t> strides,
                   const std::string& padding);

}  // namespace flowps

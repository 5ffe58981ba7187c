// Helpers shared by the op family files (array_ops.cc, math_ops.cc, nn_ops.cc,
// state_ops.cc): dtype checks for shape functions, a kernel adaptor, gradient
// plumbing, and the family registration entry points. Internal to src/graph.
#pragma once

#include <functional>
#include <string>

#include "graph/op_registry.h"
#include "kernels/nn_kernels.h"

namespace flowps {

Status RegisterArrayOps(OpRegistry* registry);
Status RegisterStateOps(OpRegistry* registry);
Status RegisterMathOps(OpRegistry* registry);
Status RegisterNNOps(OpRegistry* registry);
Status RegisterSendRecvOps(OpRegistry* registry);  // sendrecv_ops.cc

// An op record with its name and arity; the caller fills in the rest.
inline OpDef NewOp(std::string name, int num_inputs, bool stateful = false) {
  OpDef d;
  d.name = std::move(name);
  d.num_inputs = num_inputs;
  d.stateful = stateful;
  return d;
}

// InvalidArgument unless input i of the node being built has `dtype`.
Status ExpectDType(const ShapeContext& c, int i, DType dtype);
// InvalidArgument unless input i is int32 or int64.
Status ExpectIndices(const ShapeContext& c, int i);
// InvalidArgument unless input i has `rank`.
Status ExpectRank(const ShapeContext& c, int i, int rank);

// The window of a conv (filter of shape `filter`) or a pool (attr ksize) from
// the attrs strides and padding (nn_ops.cc; also used by the CUDA kernels).
StatusOr<kernels::Window> WindowFrom(const AttrMap& attrs, const Shape* filter);

// A kernel with one output computed by `fn`.
KernelFn OneOutput(std::function<StatusOr<Tensor>(KernelContext&)> fn);

// A dense gradient value.
inline GradValue Dense(Output o) { return GradValue{o, {}, {}, {}}; }
// The dense gradient flowing into output i (zeros of that output when none flows).
Output DenseGrad(Node& node, const std::vector<GradValue>& dy, int i);

}  // namespace flowps

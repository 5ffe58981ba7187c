#include "graph/op_util.h"

#include "graph/ops.h"

namespace flowps {

Status ExpectDType(const ShapeContext& c, int i, DType dtype) {
  if (c.input_dtype(i) != dtype)
    return InvalidArgument("input " + std::to_string(i) + " must be " + DTypeName(dtype) + ", got " +
                           DTypeName(c.input_dtype(i)));
  return Status::OK();
}

Status ExpectIndices(const ShapeContext& c, int i) {
  if (c.input_dtype(i) != DType::kInt32 && c.input_dtype(i) != DType::kInt64)
    return InvalidArgument("input " + std::to_string(i) + " must be int32 or int64, got " +
                           DTypeName(c.input_dtype(i)));
  return Status::OK();
}

Status ExpectRank(const ShapeContext& c, int i, int rank) {
  if (c.input_shape(i).rank() != rank)
    return InvalidArgument("input " + std::to_string(i) + " must have rank " + std::to_string(rank) + ", got " +
                           c.input_shape(i).ToString());
  return Status::OK();
}

KernelFn OneOutput(std::function<StatusOr<Tensor>(KernelContext&)> fn) {
  return [fn = std::move(fn)](KernelContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(Tensor t, fn(c));
    c.set_output(0, std::move(t));
    return Status::OK();
  };
}

Output DenseGrad(Node& node, const std::vector<GradValue>& dy, int i) {
  if (dy[i].dense.valid()) return dy[i].dense;
  return ZerosLike(node.output(i));
}

}  // namespace flowps

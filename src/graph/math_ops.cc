// Math ops: element-wise (numpy broadcasting), MatMul, BiasAdd, reductions,
// and the broadcasting helpers their gradients use. One record per op; the
// per-element arithmetic lives in kernels/elementwise_functors.h.
#include "graph/op_util.h"
#include "graph/ops.h"
#include "kernels/math_kernels.h"
#include "kernels/strided.h"

namespace flowps {
namespace {

using Ints = std::vector<int64_t>;
using Grads = std::vector<GradValue>;
using kernels::BinaryOp;
using kernels::UnaryOp;

// dy summed down to like's shape, unless the shapes are statically equal.
Output SumToShapeOf(Output g, Output like) {
  if (g.valid() && g.shape() == like.shape() && like.shape().fully_defined()) return g;
  return SumToShape(g, like);
}

Status FloatUnaryShape(ShapeContext& c) {
  FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 0, DType::kFloat32));
  c.add_output(DType::kFloat32, c.input_shape(0));
  return Status::OK();
}

Status FloatBroadcastShape(ShapeContext& c) {
  FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 0, DType::kFloat32));
  FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 1, DType::kFloat32));
  FLOWPS_ASSIGN_OR_RETURN(Shape out, kernels::BroadcastShape(c.input_shape(0), c.input_shape(1)));
  c.add_output(DType::kFloat32, out);
  return Status::OK();
}

// The output has input 1's (the `like` input's) shape and input 0's dtype.
Status LikeShape(ShapeContext& c) {
  FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 0, DType::kFloat32));
  c.add_output(DType::kFloat32, c.input_shape(1));
  return Status::OK();
}

OpDef Unary(const std::string& name, UnaryOp op, GradFn grad) {
  OpDef d = NewOp(name, 1);
  d.shape_fn = FloatUnaryShape;
  d.kernels[DeviceType::kCPU] = OneOutput([op](KernelContext& c) -> StatusOr<Tensor> {
    return kernels::Unary(op, c.input(0));
  });
  d.grad = std::move(grad);
  return d;
}

OpDef Binary(const std::string& name, BinaryOp op, GradFn grad) {
  OpDef d = NewOp(name, 2);
  d.shape_fn = FloatBroadcastShape;
  d.kernels[DeviceType::kCPU] = OneOutput(
      [op](KernelContext& c) { return kernels::Binary(op, c.input(0), c.input(1)); });
  d.grad = std::move(grad);
  return d;
}

// A grad fn from a rule mapping (x inputs, y output, dy) to dense input gradients.
using DenseRule = std::function<std::vector<Output>(Node& n, Output y, Output dy)>;
GradFn DenseGradFn(DenseRule rule) {
  return [rule = std::move(rule)](Node& n, const Grads& dy, Grads* dx) -> Status {
    std::vector<Output> g = rule(n, n.output(0), DenseGrad(n, dy, 0));
    for (size_t i = 0; i < g.size(); ++i) (*dx)[i] = g[i].valid() ? Dense(g[i]) : GradValue{};
    return Status::OK();
  };
}

std::vector<OpDef> ElementwiseOps() {
  std::vector<OpDef> ops;
  ops.push_back(Binary("Add", BinaryOp::kAdd, DenseGradFn([](Node& n, Output, Output dy) {
    return std::vector<Output>{SumToShapeOf(dy, n.input(0)), SumToShapeOf(dy, n.input(1))};
  })));
  ops.push_back(Binary("Sub", BinaryOp::kSub, DenseGradFn([](Node& n, Output, Output dy) {
    return std::vector<Output>{SumToShapeOf(dy, n.input(0)), SumToShapeOf(-dy, n.input(1))};
  })));
  ops.push_back(Binary("Mul", BinaryOp::kMul, DenseGradFn([](Node& n, Output, Output dy) {
    return std::vector<Output>{SumToShapeOf(dy * n.input(1), n.input(0)), SumToShapeOf(dy * n.input(0), n.input(1))};
  })));
  ops.push_back(Binary("Div", BinaryOp::kDiv, DenseGradFn([](Node& n, Output y, Output dy) {
    return std::vector<Output>{SumToShapeOf(dy / n.input(1), n.input(0)), SumToShapeOf(-(dy * y) / n.input(1), n.input(1))};
  })));
  ops.push_back(Unary("Neg", UnaryOp::kNeg, DenseGradFn([](Node&, Output, Output dy) { return std::vector<Output>{-dy}; })));
  ops.push_back(Unary("Square", UnaryOp::kSquare, DenseGradFn([](Node& n, Output, Output dy) {
    return std::vector<Output>{dy * (n.input(0) * 2.f)};
  })));
  ops.push_back(Unary("Sqrt", UnaryOp::kSqrt, DenseGradFn([](Node&, Output y, Output dy) {
    return std::vector<Output>{SqrtGrad(y, dy)};
  })));
  ops.push_back(Unary("Exp", UnaryOp::kExp, DenseGradFn([](Node&, Output y, Output dy) { return std::vector<Output>{dy * y}; })));
  ops.push_back(Unary("Log", UnaryOp::kLog, DenseGradFn([](Node& n, Output, Output dy) {
    return std::vector<Output>{dy / n.input(0)};
  })));
  ops.push_back(Unary("Relu", UnaryOp::kRelu, DenseGradFn([](Node& n, Output, Output dy) {
    return std::vector<Output>{ReluGrad(dy, n.input(0))};
  })));
  ops.push_back(Unary("Sigmoid", UnaryOp::kSigmoid, DenseGradFn([](Node&, Output y, Output dy) {
    return std::vector<Output>{SigmoidGrad(y, dy)};
  })));
  ops.push_back(Unary("Tanh", UnaryOp::kTanh, DenseGradFn([](Node&, Output y, Output dy) {
    return std::vector<Output>{TanhGrad(y, dy)};
  })));
  // The derivative helpers are differentiable too (second derivatives).
  ops.push_back(Binary("ReluGrad", BinaryOp::kReluGrad, DenseGradFn([](Node& n, Output, Output g) {
    return std::vector<Output>{ReluGrad(g, n.input(1)), Output{}};
  })));
  ops.push_back(Binary("SigmoidGrad", BinaryOp::kSigmoidGrad, DenseGradFn([](Node& n, Output, Output g) {
    Output y = n.input(0), dy = n.input(1);
    return std::vector<Output>{SumToShapeOf(g * dy * (1.f - y * 2.f), y), SumToShapeOf(SigmoidGrad(y, g), dy)};
  })));
  ops.push_back(Binary("TanhGrad", BinaryOp::kTanhGrad, DenseGradFn([](Node& n, Output, Output g) {
    Output y = n.input(0), dy = n.input(1);
    return std::vector<Output>{SumToShapeOf(g * dy * (y * -2.f), y), SumToShapeOf(TanhGrad(y, g), dy)};
  })));
  ops.push_back(Binary("SqrtGrad", BinaryOp::kSqrtGrad, DenseGradFn([](Node& n, Output, Output g) {
    Output y = n.input(0), dy = n.input(1);
    return std::vector<Output>{SumToShapeOf(-SqrtGrad(y, g * dy) / y, y), SumToShapeOf(SqrtGrad(y, g), dy)};
  })));
  return ops;
}

OpDef MatMulOp() {
  OpDef d = NewOp("MatMul", 2);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 0, DType::kFloat32));
    FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 1, DType::kFloat32));
    FLOWPS_RETURN_IF_ERROR(ExpectRank(c, 0, 2));
    FLOWPS_RETURN_IF_ERROR(ExpectRank(c, 1, 2));
    bool ta = GetAttrOr(c.attrs(), "transpose_a", false), tb = GetAttrOr(c.attrs(), "transpose_b", false);
    const Shape &a = c.input_shape(0), &b = c.input_shape(1);
    int64_t k1 = a.dim(ta ? 0 : 1), k2 = b.dim(tb ? 1 : 0);
    if (k1 >= 0 && k2 >= 0 && k1 != k2)
      return InvalidArgument("inner dimensions differ: " + a.ToString() + (ta ? "^T" : "") + " x " + b.ToString() +
                             (tb ? "^T" : ""));
    c.add_output(DType::kFloat32, Shape{a.dim(ta ? 1 : 0), b.dim(tb ? 0 : 1)});
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) {
    return kernels::MatMul(c.input(0), c.input(1), GetAttrOr(c.node().attrs(), "transpose_a", false),
                           GetAttrOr(c.node().attrs(), "transpose_b", false), c.pool());
  });
  d.grad = DenseGradFn([](Node& n, Output, Output dy) {
    bool ta = GetAttrOr(n.attrs(), "transpose_a", false), tb = GetAttrOr(n.attrs(), "transpose_b", false);
    Output a = n.input(0), b = n.input(1);
    if (!ta && !tb) return std::vector<Output>{MatMul(dy, b, false, true), MatMul(a, dy, true, false)};
    if (!ta) return std::vector<Output>{MatMul(dy, b), MatMul(dy, a, true, false)};
    if (!tb) return std::vector<Output>{MatMul(b, dy, false, true), MatMul(a, dy)};
    return std::vector<Output>{MatMul(b, dy, true, true), MatMul(dy, a, true, true)};
  });
  return d;
}

OpDef BiasAddOp() {
  OpDef d = NewOp("BiasAdd", 2);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 0, DType::kFloat32));
    FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 1, DType::kFloat32));
    FLOWPS_RETURN_IF_ERROR(ExpectRank(c, 1, 1));
    const Shape &x = c.input_shape(0), &b = c.input_shape(1);
    if (x.rank() < 1) return InvalidArgument("x must have rank >= 1");
    int64_t cx = x.dim(x.rank() - 1), cb = b.dim(0);
    if (cx >= 0 && cb >= 0 && cx != cb)
      return InvalidArgument("bias " + b.ToString() + " does not match the last dimension of " + x.ToString());
    c.add_output(DType::kFloat32, x);
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    const Shape& x = c.input(0).shape();
    if (x.dim(x.rank() - 1) != c.input(1).shape().dim(0))
      return InvalidArgument("bias " + c.input(1).shape().ToString() + " does not match " + x.ToString());
    return kernels::Binary(BinaryOp::kAdd, c.input(0), c.input(1));
  });
  d.grad = DenseGradFn([](Node& n, Output, Output dy) {
    return std::vector<Output>{dy, SumToShape(dy, n.input(1))};
  });
  return d;
}

Status ReduceShape(ShapeContext& c) {
  FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 0, DType::kFloat32));
  FLOWPS_ASSIGN_OR_RETURN(Ints axes, kernels::NormalizeAxes(GetAttrOr<Ints>(c.attrs(), "axes", {}), c.input_shape(0).rank()));
  c.add_output(DType::kFloat32, kernels::ReducedShape(c.input_shape(0), axes, GetAttrOr(c.attrs(), "keep_dims", false)));
  return Status::OK();
}

StatusOr<Ints> Axes(const KernelContext& c, int input) {
  return kernels::NormalizeAxes(GetAttrOr<Ints>(c.node().attrs(), "axes", {}), c.input(input).shape().rank());
}

OpDef Reduce(const std::string& name, kernels::ReduceOp op, GradFn grad) {
  OpDef d = NewOp(name, 1);
  d.shape_fn = ReduceShape;
  d.kernels[DeviceType::kCPU] = OneOutput([op](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(Ints axes, Axes(c, 0));
    return kernels::Reduce(op, c.input(0), axes, GetAttrOr(c.node().attrs(), "keep_dims", false));
  });
  d.grad = std::move(grad);
  return d;
}

std::vector<OpDef> ReductionOps() {
  auto expand = [](bool mean) {
    return DenseGradFn([mean](Node& n, Output, Output dy) {
      return std::vector<Output>{ExpandReduced(dy, n.input(0), GetAttrOr<Ints>(n.attrs(), "axes", {}), mean)};
    });
  };
  std::vector<OpDef> ops;
  ops.push_back(Reduce("ReduceSum", kernels::ReduceOp::kSum, expand(false)));
  ops.push_back(Reduce("ReduceMean", kernels::ReduceOp::kMean, expand(true)));
  ops.push_back(Reduce("ReduceMax", kernels::ReduceOp::kMax, DenseGradFn([](Node& n, Output y, Output dy) {
    return std::vector<Output>{ReduceMaxGrad(n.input(0), y, dy, GetAttrOr<Ints>(n.attrs(), "axes", {}))};
  })));

  OpDef expand_op = NewOp("ExpandReduced", 2);
  expand_op.shape_fn = LikeShape;
  expand_op.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(Ints axes, Axes(c, 1));
    return kernels::ExpandReduced(c.input(0), c.input(1).shape(), axes, GetAttrOr(c.node().attrs(), "mean", false));
  });
  expand_op.grad = DenseGradFn([](Node& n, Output, Output g) {
    Ints axes = GetAttrOr<Ints>(n.attrs(), "axes", {});
    Output r = GetAttrOr(n.attrs(), "mean", false) ? ReduceMean(g, axes) : ReduceSum(g, axes);
    return std::vector<Output>{ReshapeLike(r, n.input(0)), Output{}};
  });
  ops.push_back(std::move(expand_op));

  // Not differentiable: used only inside the gradient of ReduceMax.
  OpDef max_grad = NewOp("ReduceMaxGrad", 3);
  max_grad.shape_fn = [](ShapeContext& c) -> Status {
    for (int i = 0; i < 3; ++i) FLOWPS_RETURN_IF_ERROR(ExpectDType(c, i, DType::kFloat32));
    c.add_output(DType::kFloat32, c.input_shape(0));
    return Status::OK();
  };
  max_grad.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(Ints axes, Axes(c, 0));
    return kernels::ReduceMaxGrad(c.input(0), c.input(1), c.input(2), axes);
  });
  ops.push_back(std::move(max_grad));
  return ops;
}

// Not differentiable (piecewise constant, integer output).
OpDef ArgMaxOp() {
  OpDef d = NewOp("ArgMax", 1);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 0, DType::kFloat32));
    FLOWPS_ASSIGN_OR_RETURN(int64_t axis, c.attr<int64_t>("axis"));
    FLOWPS_ASSIGN_OR_RETURN(Ints axes, kernels::NormalizeAxes({axis}, c.input_shape(0).rank()));
    c.add_output(DType::kInt64, kernels::ReducedShape(c.input_shape(0), axes, false));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(int64_t axis, c.attr<int64_t>("axis"));
    FLOWPS_ASSIGN_OR_RETURN(Ints axes, kernels::NormalizeAxes({axis}, c.input(0).shape().rank()));
    return kernels::ArgMax(c.input(0), static_cast<int>(axes[0]));
  });
  return d;
}

// SumToShape(x, like) and BroadcastLike(x, like): each the other's gradient.
std::vector<OpDef> BroadcastOps() {
  OpDef sum = NewOp("SumToShape", 2);
  sum.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(Shape b, kernels::BroadcastShape(c.input_shape(1), c.input_shape(0)));
    (void)b;
    return LikeShape(c);
  };
  sum.kernels[DeviceType::kCPU] = OneOutput(
      [](KernelContext& c) { return kernels::SumToShape(c.input(0), c.input(1).shape()); });
  sum.grad = DenseGradFn([](Node& n, Output, Output g) {
    return std::vector<Output>{BroadcastLike(g, n.input(0)), Output{}};
  });
  OpDef bcast = NewOp("BroadcastLike", 2);
  bcast.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(Shape b, kernels::BroadcastShape(c.input_shape(0), c.input_shape(1)));
    (void)b;
    return LikeShape(c);
  };
  bcast.kernels[DeviceType::kCPU] = OneOutput(
      [](KernelContext& c) { return kernels::BroadcastTo(c.input(0), c.input(1).shape()); });
  bcast.grad = DenseGradFn([](Node& n, Output, Output g) {
    return std::vector<Output>{SumToShape(g, n.input(0)), Output{}};
  });
  std::vector<OpDef> ops;
  ops.push_back(std::move(sum));
  ops.push_back(std::move(bcast));
  return ops;
}

}  // namespace

Status RegisterMathOps(OpRegistry* r) {
  std::vector<OpDef> ops = ElementwiseOps();
  auto append = [&ops](std::vector<OpDef> more) {
    for (OpDef& d : more) ops.push_back(std::move(d));
  };
  append(ReductionOps());
  append(BroadcastOps());
  ops.push_back(MatMulOp());
  ops.push_back(BiasAddOp());
  ops.push_back(ArgMaxOp());
  for (OpDef& d : ops) FLOWPS_RETURN_IF_ERROR(r->Register(std::move(d)));
  return Status::OK();
}

}  // namespace flowps

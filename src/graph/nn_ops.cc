// Neural-network ops: Softmax, SparseSoftmaxCrossEntropyWithLogits, Conv2D and
// MaxPool (NHWC) with the backprop ops their gradients are built from.
#include "graph/op_util.h"
#include "graph/ops.h"
#include "kernels/nn_kernels.h"

namespace flowps {

// The window of a conv (filter given by `filter` shape) or a pool (attr ksize).
StatusOr<kernels::Window> WindowFrom(const AttrMap& attrs, const Shape* filter) {
  kernels::Window w;
  std::vector<int64_t> strides = GetAttrOr<std::vector<int64_t>>(attrs, "strides", {1, 1});
  FLOWPS_ASSIGN_OR_RETURN(std::string padding, GetAttr<std::string>(attrs, "padding"));
  if (strides.size() != 2) return InvalidArgument("attribute 'strides' needs 2 entries {sh, sw}");
  if (padding != "SAME" && padding != "VALID")
    return InvalidArgument("attribute 'padding' must be SAME or VALID, got '" + padding + "'");
  w.sh = strides[0];
  w.sw = strides[1];
  w.same = padding == "SAME";
  if (filter != nullptr) {
    w.kh = filter->dim(0);
    w.kw = filter->dim(1);
  } else {
    FLOWPS_ASSIGN_OR_RETURN(std::vector<int64_t> ksize, GetAttr<std::vector<int64_t>>(attrs, "ksize"));
    if (ksize.size() != 2) return InvalidArgument("attribute 'ksize' needs 2 entries {kh, kw}");
    w.kh = ksize[0];
    w.kw = ksize[1];
  }
  if (w.kh < 1 || w.kw < 1 || w.sh < 1 || w.sw < 1)
    return InvalidArgument("window " + std::to_string(w.kh) + "x" + std::to_string(w.kw) + " with strides " +
                           std::to_string(w.sh) + "x" + std::to_string(w.sw) + " is not positive");
  return w;
}

namespace {

using Ints = std::vector<int64_t>;
using Grads = std::vector<GradValue>;
using kernels::Window;

// NHWC output shape of a window op over x with `channels` output channels.
StatusOr<Shape> WindowOutput(const Shape& x, const Window& w, int64_t channels) {
  if (x.rank() != 4) return InvalidArgument("expected NHWC input of rank 4, got " + x.ToString());
  int64_t pad;
  FLOWPS_ASSIGN_OR_RETURN(int64_t oh, kernels::WindowOutputSize(x.dim(1), w.kh, w.sh, w.same, &pad));
  FLOWPS_ASSIGN_OR_RETURN(int64_t ow, kernels::WindowOutputSize(x.dim(2), w.kw, w.sw, w.same, &pad));
  return Shape{x.dim(0), oh, ow, channels};
}

Status FloatInputs(const ShapeContext& c) {
  for (int i = 0; i < c.num_inputs(); ++i) FLOWPS_RETURN_IF_ERROR(ExpectDType(c, i, DType::kFloat32));
  return Status::OK();
}

OpDef SoftmaxOp() {
  OpDef d = NewOp("Softmax", 1);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(FloatInputs(c));
    if (c.input_shape(0).rank() < 1) return InvalidArgument("logits must have rank >= 1");
    c.add_output(DType::kFloat32, c.input_shape(0));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> { return kernels::Softmax(c.input(0)); });
  // dx = y * (dy - sum(dy * y, last axis)).
  d.grad = [](Node& n, const Grads& dy, Grads* dx) -> Status {
    Output y = n.output(0), g = DenseGrad(n, dy, 0);
    (*dx)[0] = Dense(y * (g - ReduceSum(g * y, {-1}, true)));
    return Status::OK();
  };
  return d;
}

// Inputs 0 and 1 are float32 logits [N, C] and int32/int64 labels [N].
Status LogitsAndLabels(const ShapeContext& c) {
  FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 0, DType::kFloat32));
  FLOWPS_RETURN_IF_ERROR(ExpectIndices(c, 1));
  FLOWPS_RETURN_IF_ERROR(ExpectRank(c, 0, 2));
  return ExpectRank(c, 1, 1);
}

OpDef CrossEntropyOp() {
  OpDef d = NewOp("SparseSoftmaxCrossEntropyWithLogits", 2);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(LogitsAndLabels(c));
    int64_t n = c.input_shape(0).dim(0), m = c.input_shape(1).dim(0);
    if (n >= 0 && m >= 0 && n != m)
      return InvalidArgument("logits " + c.input_shape(0).ToString() + " and labels " + c.input_shape(1).ToString() +
                             " differ in batch size");
    c.add_output(DType::kFloat32, Shape{n >= 0 ? n : m});
    c.add_output(DType::kFloat32, Shape{n >= 0 ? n : m, c.input_shape(0).dim(1)});
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = [](KernelContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(kernels::CrossEntropy r, kernels::SparseSoftmaxCrossEntropy(c.input(0), c.input(1)));
    c.set_output(0, std::move(r.loss));
    c.set_output(1, std::move(r.backprop));
    return Status::OK();
  };
  // d loss_i / d logits_i = backprop_i; the labels get none.
  d.grad = [](Node& n, const Grads& dy, Grads* dx) -> Status {
    if (dy[1].valid())
      return Unimplemented("no gradient through output 1 (the backprop) of " + n.op());
    (*dx)[0] = Dense(Reshape(dy[0].dense, Shape{-1, 1}) * n.output(1));
    return Status::OK();
  };
  return d;
}

// A split softmax's pieces (kernels/nn_kernels.h): LogSumExp over the last
// axis (kept as a dim of 1), PickColumn of a part's columns [offset, offset + C)
// of a vocabulary of `vocab` columns.
OpDef LogSumExpOp() {
  OpDef d = NewOp("LogSumExp", 1);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(FloatInputs(c));
    if (c.input_shape(0).rank() < 1) return InvalidArgument("x must have rank >= 1");
    Ints dims = c.input_shape(0).dims();
    dims.back() = 1;
    c.add_output(DType::kFloat32, Shape(dims));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> { return kernels::LogSumExp(c.input(0)); });
  // dx = exp(x - y) dy: the softmax of the row times its dy.
  d.grad = [](Node& n, const Grads& dy, Grads* dx) -> Status {
    (*dx)[0] = Dense(Exp(n.input(0) - n.output(0)) * DenseGrad(n, dy, 0));
    return Status::OK();
  };
  return d;
}

// The offset and vocab attributes of PickColumn, checked against a part of `columns` columns (-1: unknown).
Status CheckPickAttrs(const ShapeContext& c, int64_t columns) {
  FLOWPS_ASSIGN_OR_RETURN(int64_t offset, c.attr<int64_t>("offset"));
  FLOWPS_ASSIGN_OR_RETURN(int64_t vocab, c.attr<int64_t>("vocab"));
  if (offset < 0 || vocab < 1 || (columns >= 0 && offset + columns > vocab))
    return InvalidArgument("the part's columns [" + std::to_string(offset) + ", " +
                           std::to_string(offset + std::max<int64_t>(columns, 0)) + ") do not fit a vocabulary of " +
                           std::to_string(vocab) + " (attributes offset, vocab)");
  return Status::OK();
}

OpDef PickColumnOp() {
  OpDef d = NewOp("PickColumn", 2);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(LogitsAndLabels(c));
    FLOWPS_RETURN_IF_ERROR(CheckPickAttrs(c, c.input_shape(0).dim(1)));
    c.add_output(DType::kFloat32, Shape{c.input_shape(0).dim(0), 1});
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(int64_t offset, c.attr<int64_t>("offset"));
    FLOWPS_ASSIGN_OR_RETURN(int64_t vocab, c.attr<int64_t>("vocab"));
    return kernels::PickColumn(c.input(0), c.input(1), offset, vocab);
  });
  d.grad = [](Node& n, const Grads& dy, Grads* dx) -> Status {
    (*dx)[0] = Dense(PickColumnGrad(DenseGrad(n, dy, 0), n.input(1), n.input(0),
                                    GetAttrOr<int64_t>(n.attrs(), "offset", 0)));
    return Status::OK();
  };
  return d;
}

OpDef PickColumnGradOp() {
  OpDef d = NewOp("PickColumnGrad", 3);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 0, DType::kFloat32));
    FLOWPS_RETURN_IF_ERROR(ExpectIndices(c, 1));
    FLOWPS_RETURN_IF_ERROR(ExpectRank(c, 2, 2));
    FLOWPS_RETURN_IF_ERROR(c.attr<int64_t>("offset").status());
    c.add_output(DType::kFloat32, c.input_shape(2));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(int64_t offset, c.attr<int64_t>("offset"));
    return kernels::PickColumnGrad(c.input(0), c.input(1), c.input(2).shape(), offset);
  });
  return d;
}

OpDef Conv2DOp() {
  OpDef d = NewOp("Conv2D", 2);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(FloatInputs(c));
    FLOWPS_RETURN_IF_ERROR(ExpectRank(c, 0, 4));
    FLOWPS_RETURN_IF_ERROR(ExpectRank(c, 1, 4));
    const Shape &x = c.input_shape(0), &f = c.input_shape(1);
    if (!f.fully_defined()) return InvalidArgument("the filter shape must be fully defined, got " + f.ToString());
    if (x.dim(3) >= 0 && x.dim(3) != f.dim(2))
      return InvalidArgument("filter " + f.ToString() + " expects " + std::to_string(f.dim(2)) + " input channels, x is " +
                             x.ToString());
    FLOWPS_ASSIGN_OR_RETURN(Window w, WindowFrom(c.attrs(), &f));
    FLOWPS_ASSIGN_OR_RETURN(Shape out, WindowOutput(x, w, f.dim(3)));
    c.add_output(DType::kFloat32, out);
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(Window w, WindowFrom(c.node().attrs(), &c.input(1).shape()));
    return kernels::Conv2D(c.input(0), c.input(1), w, c.pool());
  });
  d.grad = [](Node& n, const Grads& dy, Grads* dx) -> Status {
    Ints strides = GetAttrOr<Ints>(n.attrs(), "strides", {1, 1});
    std::string padding = GetAttrOr<std::string>(n.attrs(), "padding", "");
    Output g = DenseGrad(n, dy, 0), x = n.input(0), f = n.input(1);
    (*dx)[0] = Dense(Conv2DBackpropInput(x, f, g, strides, padding));
    (*dx)[1] = Dense(Conv2DBackpropFilter(x, f, g, strides, padding));
    return Status::OK();
  };
  return d;
}

// Inputs (x_like, filter, dy) -> dx. Linear in filter and dy.
OpDef Conv2DBackpropInputOp() {
  OpDef d = NewOp("Conv2DBackpropInput", 3);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(FloatInputs(c));
    FLOWPS_RETURN_IF_ERROR(ExpectRank(c, 0, 4));
    FLOWPS_RETURN_IF_ERROR(ExpectRank(c, 1, 4));
    FLOWPS_ASSIGN_OR_RETURN(Window w, WindowFrom(c.attrs(), &c.input_shape(1)));
    (void)w;
    c.add_output(DType::kFloat32, c.input_shape(0));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(Window w, WindowFrom(c.node().attrs(), &c.input(1).shape()));
    return kernels::Conv2DBackpropInput(c.input(0).shape(), c.input(1), c.input(2), w, c.pool());
  });
  d.grad = [](Node& n, const Grads& dy, Grads* dx) -> Status {
    Ints strides = GetAttrOr<Ints>(n.attrs(), "strides", {1, 1});
    std::string padding = GetAttrOr<std::string>(n.attrs(), "padding", "");
    Output g = DenseGrad(n, dy, 0), f = n.input(1), d_y = n.input(2);
    (*dx)[1] = Dense(Conv2DBackpropFilter(g, f, d_y, strides, padding));
    (*dx)[2] = Dense(Conv2D(g, f, strides, padding));
    return Status::OK();
  };
  return d;
}

// Inputs (x, filter_like, dy) -> dfilter. Linear in x and dy.
OpDef Conv2DBackpropFilterOp() {
  OpDef d = NewOp("Conv2DBackpropFilter", 3);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(FloatInputs(c));
    FLOWPS_RETURN_IF_ERROR(ExpectRank(c, 0, 4));
    FLOWPS_RETURN_IF_ERROR(ExpectRank(c, 1, 4));
    if (!c.input_shape(1).fully_defined()) return InvalidArgument("the filter shape must be fully defined");
    FLOWPS_ASSIGN_OR_RETURN(Window w, WindowFrom(c.attrs(), &c.input_shape(1)));
    (void)w;
    c.add_output(DType::kFloat32, c.input_shape(1));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(Window w, WindowFrom(c.node().attrs(), &c.input(1).shape()));
    return kernels::Conv2DBackpropFilter(c.input(0), c.input(1).shape(), c.input(2), w, c.pool());
  });
  d.grad = [](Node& n, const Grads& dy, Grads* dx) -> Status {
    Ints strides = GetAttrOr<Ints>(n.attrs(), "strides", {1, 1});
    std::string padding = GetAttrOr<std::string>(n.attrs(), "padding", "");
    Output g = DenseGrad(n, dy, 0), x = n.input(0), d_y = n.input(2);
    (*dx)[0] = Dense(Conv2DBackpropInput(x, g, d_y, strides, padding));
    (*dx)[2] = Dense(Conv2D(x, g, strides, padding));
    return Status::OK();
  };
  return d;
}

OpDef MaxPoolOp() {
  OpDef d = NewOp("MaxPool", 1);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(FloatInputs(c));
    FLOWPS_RETURN_IF_ERROR(ExpectRank(c, 0, 4));
    FLOWPS_ASSIGN_OR_RETURN(Window w, WindowFrom(c.attrs(), nullptr));
    FLOWPS_ASSIGN_OR_RETURN(Shape out, WindowOutput(c.input_shape(0), w, c.input_shape(0).dim(3)));
    c.add_output(DType::kFloat32, out);
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(Window w, WindowFrom(c.node().attrs(), nullptr));
    return kernels::MaxPool(c.input(0), w);
  });
  d.grad = [](Node& n, const Grads& dy, Grads* dx) -> Status {
    (*dx)[0] = Dense(MaxPoolGrad(n.input(0), DenseGrad(n, dy, 0), GetAttrOr<Ints>(n.attrs(), "ksize", {}),
                                 GetAttrOr<Ints>(n.attrs(), "strides", {1, 1}),
                                 GetAttrOr<std::string>(n.attrs(), "padding", "")));
    return Status::OK();
  };
  return d;
}

// Not differentiable: used only inside the gradient of MaxPool.
OpDef MaxPoolGradOp() {
  OpDef d = NewOp("MaxPoolGrad", 2);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(FloatInputs(c));
    FLOWPS_RETURN_IF_ERROR(ExpectRank(c, 0, 4));
    FLOWPS_ASSIGN_OR_RETURN(Window w, WindowFrom(c.attrs(), nullptr));
    (void)w;
    c.add_output(DType::kFloat32, c.input_shape(0));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(Window w, WindowFrom(c.node().attrs(), nullptr));
    return kernels::MaxPoolGrad(c.input(0), c.input(1), w);
  });
  return d;
}

}  // namespace

Status RegisterNNOps(OpRegistry* r) {
  for (OpDef d : {SoftmaxOp(), CrossEntropyOp(), LogSumExpOp(), PickColumnOp(), PickColumnGradOp(), Conv2DOp(), Conv2DBackpropInputOp(), Conv2DBackpropFilterOp(),
                  MaxPoolOp(), MaxPoolGradOp()})
    FLOWPS_RETURN_IF_ERROR(r->Register(std::move(d)));
  return Status::OK();
}

}  // namespace flowps

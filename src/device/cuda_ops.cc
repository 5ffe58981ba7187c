#include "device/cuda_ops.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <climits>

#include "device/cuda_kernels.h"
#include "device/gpu_device.h"
#include "graph/kernel_services.h"
#include "graph/op_util.h"
#include "kernels/array_kernels.h"
#include "kernels/math_kernels.h"
#include "kernels/nn_kernels.h"
#include "kernels/per_element_index.h"
#include "kernels/strided.h"

namespace flowps {
namespace {

using Ints = std::vector<int64_t>;
using kernels::BinaryOp;
using kernels::ReduceKind;
using kernels::UnaryOp;

std::string Where(const KernelContext& c) { return "GPU kernel of " + c.node().op(); }

// The kernel's GpuDevice, made current on this thread, after checking that
// every input lives on it.
StatusOr<GpuDevice*> Gpu(KernelContext& c) {
  auto* d = dynamic_cast<GpuDevice*>(c.device());
  if (d == nullptr) return FailedPrecondition(Where(c) + " runs only in an executor made with a GpuDevice");
  for (int i = 0; i < c.num_inputs(); ++i) {
    const Tensor& t = c.input(i);
    if (!t.on_device() || t.buffer()->device() != d->index())
      return InvalidArgument("input " + std::to_string(i) + " of the " + Where(c) + " is not in the memory of " +
                             d->name() + " (feed device tensors, or let partition insert Send/Recv)");
  }
  FLOWPS_RETURN_IF_ERROR(d->MakeCurrent());
  return d;
}

Status Launched(cudaError_t e, const KernelContext& c) { return CudaStatus(e, "launching the " + Where(c)); }

cudaStream_t StreamOf(const GpuDevice& d) { return d.stream(); }

using GpuFn = std::function<StatusOr<Tensor>(KernelContext&, GpuDevice&)>;
KernelFn OneGpuOutput(GpuFn fn) {
  return [fn = std::move(fn)](KernelContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(GpuDevice * d, Gpu(c));
    FLOWPS_ASSIGN_OR_RETURN(Tensor out, fn(c, *d));
    c.set_output(0, std::move(out));
    return Status::OK();
  };
}

// A device int32 flag set to 0, for kernels that report bad indices.
StatusOr<Tensor> NewFlag(GpuDevice& d) {
  FLOWPS_ASSIGN_OR_RETURN(Tensor flag, d.Allocate(DType::kInt32, Shape{1}));
  FLOWPS_RETURN_IF_ERROR(CudaStatus(cudaMemsetAsync(flag.raw_data(), 0, sizeof(int32_t), StreamOf(d)), "cudaMemsetAsync"));
  return flag;
}

// InvalidArgument `what` if a kernel raised the flag (waits for the stream).
Status CheckFlag(GpuDevice& d, const Tensor& flag, const std::string& what) {
  FLOWPS_ASSIGN_OR_RETURN(Tensor host, d.CopyToHost(flag));
  return host.data<int32_t>()[0] == 0 ? Status::OK() : InvalidArgument(what);
}

bool IsIndex64(const Tensor& t) { return t.dtype() == DType::kInt64; }

KernelFn UnaryKernel(UnaryOp op) {
  return OneGpuOutput([op](KernelContext& c, GpuDevice& d) -> StatusOr<Tensor> {
    const Tensor& x = c.input(0);
    FLOWPS_ASSIGN_OR_RETURN(Tensor y, d.Allocate(DType::kFloat32, x.shape()));
    FLOWPS_RETURN_IF_ERROR(Launched(
        cuda::LaunchUnary(static_cast<int>(op), x.data<float>(), y.data<float>(), x.num_elements(), StreamOf(d)), c));
    return y;
  });
}

StatusOr<Tensor> BinaryOnGpu(KernelContext& c, GpuDevice& d, BinaryOp op) {
  const Tensor &a = c.input(0), &b = c.input(1);
  FLOWPS_ASSIGN_OR_RETURN(Shape shape, kernels::BroadcastShape(a.shape(), b.shape()));
  FLOWPS_ASSIGN_OR_RETURN(kernels::BroadcastIndex idx, kernels::MakeBroadcastIndex(shape, a.shape(), b.shape()));
  FLOWPS_ASSIGN_OR_RETURN(Tensor out, d.Allocate(DType::kFloat32, shape));
  FLOWPS_RETURN_IF_ERROR(Launched(cuda::LaunchBinary(static_cast<int>(op), idx, a.data<float>(), b.data<float>(),
                                                     out.data<float>(), out.num_elements(), StreamOf(d)),
                                  c));
  return out;
}

KernelFn BinaryKernel(BinaryOp op) {
  return OneGpuOutput([op](KernelContext& c, GpuDevice& d) { return BinaryOnGpu(c, d, op); });
}

// x broadcast to `target`, times `scale`.
StatusOr<Tensor> BroadcastOnGpu(KernelContext& c, GpuDevice& d, const Tensor& x, const Shape& target, float scale) {
  FLOWPS_ASSIGN_OR_RETURN(kernels::BroadcastIndex idx, kernels::MakeBroadcastIndex(target, x.shape(), x.shape()));
  FLOWPS_ASSIGN_OR_RETURN(Tensor out, d.Allocate(DType::kFloat32, target));
  FLOWPS_RETURN_IF_ERROR(
      Launched(cuda::LaunchBroadcast(idx, x.data<float>(), scale, out.data<float>(), out.num_elements(), StreamOf(d)), c));
  return out;
}

// x reduced over normalised `axes` into a tensor of shape `out_shape`.
StatusOr<Tensor> ReduceOnGpu(KernelContext& c, GpuDevice& d, const Tensor& x, const Ints& axes, ReduceKind kind,
                             const Shape& out_shape) {
  FLOWPS_ASSIGN_OR_RETURN(kernels::ReduceIndex r, kernels::MakeReduceIndex(x.shape(), axes));
  FLOWPS_ASSIGN_OR_RETURN(Tensor out, d.Allocate(DType::kFloat32, out_shape));
  FLOWPS_RETURN_IF_ERROR(
      Launched(cuda::LaunchReduce(r, kind, x.data<float>(), out.data<float>(), out.num_elements(), StreamOf(d)), c));
  return out;
}

KernelFn ReduceKernel(ReduceKind kind) {
  return OneGpuOutput([kind](KernelContext& c, GpuDevice& d) -> StatusOr<Tensor> {
    const Tensor& x = c.input(0);
    FLOWPS_ASSIGN_OR_RETURN(Ints axes, kernels::NormalizeAxes(GetAttrOr<Ints>(c.node().attrs(), "axes", {}), x.shape().rank()));
    return ReduceOnGpu(c, d, x, axes, kind,
                       kernels::ReducedShape(x.shape(), axes, GetAttrOr(c.node().attrs(), "keep_dims", false)));
  });
}

Status CrossEntropyKernel(KernelContext& c) {
  FLOWPS_ASSIGN_OR_RETURN(GpuDevice * d, Gpu(c));
  const Tensor &logits = c.input(0), &labels = c.input(1);
  FLOWPS_RETURN_IF_ERROR(kernels::CheckLogitsAndLabels(logits.shape(), labels.shape()));
  const int64_t n = logits.shape().dim(0), classes = logits.shape().dim(1);
  FLOWPS_ASSIGN_OR_RETURN(Tensor loss, d->Allocate(DType::kFloat32, Shape{n}));
  FLOWPS_ASSIGN_OR_RETURN(Tensor backprop, d->Allocate(DType::kFloat32, Shape{n, classes}));
  FLOWPS_ASSIGN_OR_RETURN(Tensor flag, NewFlag(*d));
  FLOWPS_RETURN_IF_ERROR(Launched(cuda::LaunchCrossEntropy(logits.data<float>(), labels.raw_data(), IsIndex64(labels), n,
                                                           classes, loss.data<float>(), backprop.data<float>(),
                                                           flag.data<int32_t>(), StreamOf(*d)),
                                  c));
  FLOWPS_RETURN_IF_ERROR(
      CheckFlag(*d, flag, "a label is out of range [0, " + std::to_string(classes) + ")"));
  c.set_output(0, std::move(loss));
  c.set_output(1, std::move(backprop));
  return Status::OK();
}

StatusOr<Tensor> LogSumExpOnGpu(KernelContext& c, GpuDevice& d) {
  const Tensor& x = c.input(0);
  if (x.shape().rank() < 1) return InvalidArgument("LogSumExp needs x of rank >= 1");
  std::vector<int64_t> dims = x.shape().dims();
  const int64_t classes = dims.back();
  dims.back() = 1;
  FLOWPS_ASSIGN_OR_RETURN(Tensor y, d.Allocate(DType::kFloat32, Shape(dims)));
  FLOWPS_RETURN_IF_ERROR(
      Launched(cuda::LaunchLogSumExp(x.data<float>(), y.num_elements(), classes, y.data<float>(), StreamOf(d)), c));
  return y;
}

StatusOr<Tensor> PickColumnOnGpu(KernelContext& c, GpuDevice& d) {
  const Tensor &x = c.input(0), &labels = c.input(1);
  FLOWPS_ASSIGN_OR_RETURN(int64_t offset, c.attr<int64_t>("offset"));
  FLOWPS_ASSIGN_OR_RETURN(int64_t vocab, c.attr<int64_t>("vocab"));
  FLOWPS_RETURN_IF_ERROR(kernels::CheckLogitsAndLabels(x.shape(), labels.shape()));
  const int64_t n = x.shape().dim(0);
  FLOWPS_ASSIGN_OR_RETURN(Tensor out, d.Allocate(DType::kFloat32, Shape{n, 1}));
  FLOWPS_ASSIGN_OR_RETURN(Tensor flag, NewFlag(d));
  FLOWPS_RETURN_IF_ERROR(Launched(cuda::LaunchPickColumn(x.data<float>(), n, x.shape().dim(1), labels.raw_data(),
                                                         IsIndex64(labels), offset, vocab, out.data<float>(),
                                                         flag.data<int32_t>(), StreamOf(d)),
                                  c));
  FLOWPS_RETURN_IF_ERROR(CheckFlag(d, flag, "a label is out of range [0, " + std::to_string(vocab) + ")"));
  return out;
}

StatusOr<Tensor> PickColumnGradOnGpu(KernelContext& c, GpuDevice& d) {
  const Tensor &dy = c.input(0), &labels = c.input(1);
  const Shape& like = c.input(2).shape();
  FLOWPS_ASSIGN_OR_RETURN(int64_t offset, c.attr<int64_t>("offset"));
  if (like.rank() != 2 || labels.num_elements() != like.dim(0) || dy.num_elements() != like.dim(0))
    return InvalidArgument("dy " + dy.shape().ToString() + " and labels " + labels.shape().ToString() +
                           " do not fit logits " + like.ToString());
  FLOWPS_ASSIGN_OR_RETURN(Tensor dx, d.Allocate(DType::kFloat32, like));
  FLOWPS_RETURN_IF_ERROR(Launched(cuda::LaunchPickColumnGrad(dy.data<float>(), like.dim(0), like.dim(1),
                                                             labels.raw_data(), IsIndex64(labels), offset,
                                                             dx.data<float>(), StreamOf(d)),
                                  c));
  return dx;
}

StatusOr<Tensor> GatherOnGpu(KernelContext& c, GpuDevice& d) {
  const Tensor &params = c.input(0), &indices = c.input(1);
  if (params.shape().rank() < 1) return InvalidArgument("Gather params must have rank >= 1");
  const int elem = static_cast<int>(DTypeSize(params.dtype()));
  if (elem != 4 && elem != 8) return InvalidArgument(std::string("Gather on the GPU does not take ") + DTypeName(params.dtype()));
  Ints dims = indices.shape().dims();
  int64_t row = 1;
  for (int i = 1; i < params.shape().rank(); ++i) {
    dims.push_back(params.shape().dim(i));
    row *= params.shape().dim(i);
  }
  FLOWPS_ASSIGN_OR_RETURN(Tensor out, d.Allocate(params.dtype(), Shape(dims)));
  FLOWPS_ASSIGN_OR_RETURN(Tensor flag, NewFlag(d));
  const int64_t rows = params.shape().dim(0);
  FLOWPS_RETURN_IF_ERROR(Launched(cuda::LaunchGather(params.raw_data(), elem, rows, row, indices.raw_data(),
                                                     IsIndex64(indices), indices.num_elements(), out.raw_data(),
                                                     flag.data<int32_t>(), StreamOf(d)),
                                  c));
  FLOWPS_RETURN_IF_ERROR(CheckFlag(d, flag, "a Gather index is out of range [0, " + std::to_string(rows) + ")"));
  return out;
}

// SparseToDense(indices, values, like): the densified sparse gradient of Gather.
StatusOr<Tensor> ScatterOnGpu(KernelContext& c, GpuDevice& d) {
  const Tensor &indices = c.input(0), &values = c.input(1);
  const Shape& dense = c.input(2).shape();
  if (dense.rank() < 1) return InvalidArgument("the dense shape must have rank >= 1");
  const int64_t rows = dense.dim(0), row = rows == 0 ? 0 : dense.num_elements() / rows;
  if (values.num_elements() != indices.num_elements() * row)
    return InvalidArgument("values " + values.shape().ToString() + " do not fit indices " + indices.shape().ToString() +
                           " and rows of " + dense.ToString());
  FLOWPS_ASSIGN_OR_RETURN(Tensor out, d.Allocate(DType::kFloat32, dense));
  FLOWPS_ASSIGN_OR_RETURN(Tensor flag, NewFlag(d));
  FLOWPS_RETURN_IF_ERROR(Launched(cuda::LaunchScatterRowsAdd(indices.raw_data(), IsIndex64(indices), indices.num_elements(),
                                                             values.data<float>(), rows, row, out.data<float>(),
                                                             flag.data<int32_t>(), StreamOf(d)),
                                  c));
  FLOWPS_RETURN_IF_ERROR(CheckFlag(d, flag, "an index is out of range [0, " + std::to_string(rows) + ")"));
  return out;
}

// The geometry of a conv node: x [N,H,W,C], filter shape [KH,KW,C,O].
StatusOr<kernels::WindowGeometry> ConvGeometry(const KernelContext& c, const Shape& x, const Shape& f) {
  if (f.rank() != 4 || x.rank() != 4 || f.dim(2) != x.dim(3))
    return InvalidArgument("filter " + f.ToString() + " does not fit input " + x.ToString());
  FLOWPS_ASSIGN_OR_RETURN(kernels::Window w, WindowFrom(c.node().attrs(), &f));
  return kernels::MakeWindowGeometry(x, w, f.dim(3));
}

StatusOr<kernels::WindowGeometry> PoolGeometry(const KernelContext& c, const Shape& x) {
  FLOWPS_ASSIGN_OR_RETURN(kernels::Window w, WindowFrom(c.node().attrs(), nullptr));
  if (x.rank() != 4) return InvalidArgument("expected NHWC input of rank 4, got " + x.ToString());
  return kernels::MakeWindowGeometry(x, w, x.dim(3));
}

Shape OutputShape(const kernels::WindowGeometry& g) { return Shape{g.n, g.oh, g.ow, g.o}; }

Status CheckDy(const kernels::WindowGeometry& g, const Tensor& dy) {
  if (dy.shape() != OutputShape(g)) return InvalidArgument("window op gradient has shape " + dy.shape().ToString());
  return Status::OK();
}

// The box of `dims` at `begin` of x, copied into a new device tensor.
StatusOr<Tensor> CopyFromBoxOnGpu(KernelContext& c, GpuDevice& d, const Tensor& x, const Ints& begin, const Shape& dims) {
  FLOWPS_ASSIGN_OR_RETURN(kernels::Box box, kernels::MakeBox(x.shape(), begin, dims));
  FLOWPS_ASSIGN_OR_RETURN(Tensor out, d.Allocate(x.dtype(), dims));
  FLOWPS_RETURN_IF_ERROR(Launched(cuda::LaunchCopyFromBox(box, x.raw_data(), static_cast<int>(DTypeSize(x.dtype())),
                                                          out.raw_data(), out.num_elements(), StreamOf(d)),
                                  c));
  return out;
}

// x written into the box of x's shape at `begin` of `out`.
Status CopyIntoBoxOnGpu(KernelContext& c, GpuDevice& d, const Tensor& x, const Ints& begin, Tensor& out) {
  FLOWPS_ASSIGN_OR_RETURN(kernels::Box box, kernels::MakeBox(out.shape(), begin, x.shape()));
  return Launched(cuda::LaunchCopyIntoBox(box, x.raw_data(), static_cast<int>(DTypeSize(x.dtype())), out.raw_data(),
                                          x.num_elements(), StreamOf(d)),
                  c);
}

StatusOr<Tensor> ConcatOnGpu(KernelContext& c, GpuDevice& d) {
  FLOWPS_ASSIGN_OR_RETURN(int64_t axis, c.attr<int64_t>("axis"));
  const Shape& first = c.input(0).shape();
  if (axis < 0) axis += first.rank();
  if (axis < 0 || axis >= first.rank()) return InvalidArgument("Concat axis out of range for " + first.ToString());
  Ints dims = first.dims();
  dims[axis] = 0;
  for (int i = 0; i < c.num_inputs(); ++i) {
    const Shape& s = c.input(i).shape();
    bool fits = s.rank() == first.rank() && c.input(i).dtype() == c.input(0).dtype();
    for (int k = 0; fits && k < first.rank(); ++k) fits = k == axis || s.dim(k) == first.dim(k);
    if (!fits) return InvalidArgument("Concat input " + std::to_string(i) + " " + s.ToString() + " does not fit " + first.ToString());
    dims[axis] += s.dim(axis);
  }
  FLOWPS_ASSIGN_OR_RETURN(Tensor out, d.Allocate(c.input(0).dtype(), Shape(dims)));
  Ints begin(first.rank(), 0);
  for (int i = 0; i < c.num_inputs(); ++i) {
    FLOWPS_RETURN_IF_ERROR(CopyIntoBoxOnGpu(c, d, c.input(i), begin, out));
    begin[axis] += c.input(i).shape().dim(axis);
  }
  return out;
}

Status SplitOnGpu(KernelContext& c) {
  FLOWPS_ASSIGN_OR_RETURN(GpuDevice * d, Gpu(c));
  const Tensor& x = c.input(0);
  FLOWPS_ASSIGN_OR_RETURN(int64_t axis, c.attr<int64_t>("axis"));
  if (axis < 0) axis += x.shape().rank();
  FLOWPS_ASSIGN_OR_RETURN(Shape part, kernels::SplitShape(x.shape(), c.node().num_outputs(), static_cast<int>(axis)));
  Ints begin(x.shape().rank(), 0);
  for (int i = 0; i < c.node().num_outputs(); ++i) {
    begin[axis] = i * part.dim(axis);
    FLOWPS_ASSIGN_OR_RETURN(Tensor t, CopyFromBoxOnGpu(c, *d, x, begin, part));
    c.set_output(i, std::move(t));
  }
  return Status::OK();
}

std::vector<std::pair<std::string, KernelFn>> GpuKernels() {
  std::vector<std::pair<std::string, KernelFn>> k;
  const std::pair<const char*, UnaryOp> unary[] = {{"Neg", UnaryOp::kNeg},   {"Square", UnaryOp::kSquare},
                                                   {"Sqrt", UnaryOp::kSqrt}, {"Exp", UnaryOp::kExp},
                                                   {"Log", UnaryOp::kLog},   {"Relu", UnaryOp::kRelu},
                                                   {"Sigmoid", UnaryOp::kSigmoid}, {"Tanh", UnaryOp::kTanh}};
  for (const auto& [name, op] : unary) k.emplace_back(name, UnaryKernel(op));
  const std::pair<const char*, BinaryOp> binary[] = {
      {"Add", BinaryOp::kAdd},           {"Sub", BinaryOp::kSub},
      {"Mul", BinaryOp::kMul},           {"Div", BinaryOp::kDiv},
      {"ReluGrad", BinaryOp::kReluGrad}, {"SigmoidGrad", BinaryOp::kSigmoidGrad},
      {"TanhGrad", BinaryOp::kTanhGrad}, {"SqrtGrad", BinaryOp::kSqrtGrad}};
  for (const auto& [name, op] : binary) k.emplace_back(name, BinaryKernel(op));

  k.emplace_back("BiasAdd", OneGpuOutput([](KernelContext& c, GpuDevice& d) -> StatusOr<Tensor> {
    const Shape& x = c.input(0).shape();
    if (x.rank() < 1 || c.input(1).shape().rank() != 1 || x.dim(x.rank() - 1) != c.input(1).shape().dim(0))
      return InvalidArgument("bias " + c.input(1).shape().ToString() + " does not match " + x.ToString());
    return BinaryOnGpu(c, d, BinaryOp::kAdd);
  }));
  k.emplace_back("BroadcastLike", OneGpuOutput([](KernelContext& c, GpuDevice& d) {
    return BroadcastOnGpu(c, d, c.input(0), c.input(1).shape(), 1.f);
  }));
  k.emplace_back("ExpandReduced", OneGpuOutput([](KernelContext& c, GpuDevice& d) -> StatusOr<Tensor> {
    const Shape& x_shape = c.input(1).shape();
    FLOWPS_ASSIGN_OR_RETURN(Ints axes, kernels::NormalizeAxes(GetAttrOr<Ints>(c.node().attrs(), "axes", {}), x_shape.rank()));
    const Shape kept = kernels::ReducedShape(x_shape, axes, true);
    if (c.input(0).num_elements() != kept.num_elements())
      return InvalidArgument("gradient of shape " + c.input(0).shape().ToString() + " does not fit the reduction of " +
                             x_shape.ToString());
    FLOWPS_ASSIGN_OR_RETURN(Tensor dy, c.input(0).Reshaped(kept));
    const bool mean = GetAttrOr(c.node().attrs(), "mean", false) && x_shape.num_elements() > 0;
    return BroadcastOnGpu(c, d, dy, x_shape, mean ? float(kept.num_elements()) / float(x_shape.num_elements()) : 1.f);
  }));
  k.emplace_back("SumToShape", OneGpuOutput([](KernelContext& c, GpuDevice& d) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(Ints axes, kernels::SumToShapeAxes(c.input(0).shape(), c.input(1).shape()));
    return ReduceOnGpu(c, d, c.input(0), axes, ReduceKind::kSum, c.input(1).shape());
  }));
  k.emplace_back("ReduceSum", ReduceKernel(ReduceKind::kSum));
  k.emplace_back("ReduceMean", ReduceKernel(ReduceKind::kMean));
  k.emplace_back("ReduceMax", ReduceKernel(ReduceKind::kMax));
  k.emplace_back("MatMul", OneGpuOutput([](KernelContext& c, GpuDevice& d) {
    return CublasMatMul(d, c.input(0), c.input(1), GetAttrOr(c.node().attrs(), "transpose_a", false),
                        GetAttrOr(c.node().attrs(), "transpose_b", false));
  }));
  k.emplace_back("Concat", OneGpuOutput(ConcatOnGpu));
  k.emplace_back("Split", SplitOnGpu);
  k.emplace_back("Slice", OneGpuOutput([](KernelContext& c, GpuDevice& d) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(Ints begin, c.attr<Ints>("begin"));
    FLOWPS_ASSIGN_OR_RETURN(Ints size, c.attr<Ints>("size"));
    FLOWPS_ASSIGN_OR_RETURN(Shape dims, kernels::SliceShape(c.input(0).shape(), begin, size));
    return CopyFromBoxOnGpu(c, d, c.input(0), begin, dims);
  }));
  k.emplace_back("SliceGrad", OneGpuOutput([](KernelContext& c, GpuDevice& d) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(Ints begin, c.attr<Ints>("begin"));
    const Tensor& dy = c.input(0);
    FLOWPS_ASSIGN_OR_RETURN(Tensor out, d.Allocate(dy.dtype(), c.input(1).shape()));
    FLOWPS_RETURN_IF_ERROR(CudaStatus(cudaMemsetAsync(out.raw_data(), 0, out.num_bytes(), StreamOf(d)), "cudaMemsetAsync"));
    FLOWPS_RETURN_IF_ERROR(CopyIntoBoxOnGpu(c, d, dy, begin, out));
    return out;
  }));
  k.emplace_back("Softmax", OneGpuOutput([](KernelContext& c, GpuDevice& d) -> StatusOr<Tensor> {
    const Tensor& x = c.input(0);
    const int64_t classes = x.shape().dim(x.shape().rank() - 1);
    FLOWPS_ASSIGN_OR_RETURN(Tensor y, d.Allocate(DType::kFloat32, x.shape()));
    const int64_t rows = classes == 0 ? 0 : x.num_elements() / classes;
    FLOWPS_RETURN_IF_ERROR(Launched(cuda::LaunchSoftmax(x.data<float>(), rows, classes, y.data<float>(), StreamOf(d)), c));
    return y;
  }));
  k.emplace_back("SparseSoftmaxCrossEntropyWithLogits", CrossEntropyKernel);
  k.emplace_back("Gather", OneGpuOutput(GatherOnGpu));
  k.emplace_back("LogSumExp", OneGpuOutput(LogSumExpOnGpu));
  k.emplace_back("PickColumn", OneGpuOutput(PickColumnOnGpu));
  k.emplace_back("PickColumnGrad", OneGpuOutput(PickColumnGradOnGpu));
  k.emplace_back("SparseToDense", OneGpuOutput(ScatterOnGpu));
  k.emplace_back("Conv2D", OneGpuOutput([](KernelContext& c, GpuDevice& d) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(kernels::WindowGeometry g, ConvGeometry(c, c.input(0).shape(), c.input(1).shape()));
    FLOWPS_ASSIGN_OR_RETURN(Tensor y, d.Allocate(DType::kFloat32, OutputShape(g)));
    FLOWPS_RETURN_IF_ERROR(Launched(
        cuda::LaunchConv2D(g, c.input(0).data<float>(), c.input(1).data<float>(), y.data<float>(), StreamOf(d)), c));
    return y;
  }));
  k.emplace_back("Conv2DBackpropInput", OneGpuOutput([](KernelContext& c, GpuDevice& d) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(kernels::WindowGeometry g, ConvGeometry(c, c.input(0).shape(), c.input(1).shape()));
    FLOWPS_RETURN_IF_ERROR(CheckDy(g, c.input(2)));
    FLOWPS_ASSIGN_OR_RETURN(Tensor dx, d.Allocate(DType::kFloat32, c.input(0).shape()));
    FLOWPS_RETURN_IF_ERROR(Launched(cuda::LaunchConv2DBackpropInput(g, c.input(1).data<float>(), c.input(2).data<float>(),
                                                                    dx.data<float>(), StreamOf(d)),
                                    c));
    return dx;
  }));
  k.emplace_back("Conv2DBackpropFilter", OneGpuOutput([](KernelContext& c, GpuDevice& d) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(kernels::WindowGeometry g, ConvGeometry(c, c.input(0).shape(), c.input(1).shape()));
    FLOWPS_RETURN_IF_ERROR(CheckDy(g, c.input(2)));
    FLOWPS_ASSIGN_OR_RETURN(Tensor df, d.Allocate(DType::kFloat32, c.input(1).shape()));
    FLOWPS_RETURN_IF_ERROR(Launched(cuda::LaunchConv2DBackpropFilter(g, c.input(0).data<float>(), c.input(2).data<float>(),
                                                                     df.data<float>(), StreamOf(d)),
                                    c));
    return df;
  }));
  k.emplace_back("MaxPool", OneGpuOutput([](KernelContext& c, GpuDevice& d) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(kernels::WindowGeometry g, PoolGeometry(c, c.input(0).shape()));
    FLOWPS_ASSIGN_OR_RETURN(Tensor y, d.Allocate(DType::kFloat32, OutputShape(g)));
    FLOWPS_RETURN_IF_ERROR(Launched(cuda::LaunchMaxPool(g, c.input(0).data<float>(), y.data<float>(), StreamOf(d)), c));
    return y;
  }));
  k.emplace_back("MaxPoolGrad", OneGpuOutput([](KernelContext& c, GpuDevice& d) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(kernels::WindowGeometry g, PoolGeometry(c, c.input(0).shape()));
    FLOWPS_RETURN_IF_ERROR(CheckDy(g, c.input(1)));
    FLOWPS_ASSIGN_OR_RETURN(Tensor dx, d.Allocate(DType::kFloat32, c.input(0).shape()));
    FLOWPS_RETURN_IF_ERROR(Launched(
        cuda::LaunchMaxPoolGrad(g, c.input(0).data<float>(), c.input(1).data<float>(), dx.data<float>(), StreamOf(d)), c));
    return dx;
  }));
  for (const auto& [name, value] : {std::pair<const char*, float>{"ZerosLike", 0.f}, {"OnesLike", 1.f}})
    k.emplace_back(name, OneGpuOutput([value](KernelContext& c, GpuDevice& d) -> StatusOr<Tensor> {
      const Tensor& x = c.input(0);
      FLOWPS_ASSIGN_OR_RETURN(Tensor out, d.Allocate(x.dtype(), x.shape()));
      const cudaError_t e = value == 0.f
                                ? cudaMemsetAsync(out.raw_data(), 0, out.num_bytes(), StreamOf(d))
                                : cuda::LaunchFill(value, out.data<float>(), out.num_elements(), StreamOf(d));
      FLOWPS_RETURN_IF_ERROR(Launched(e, c));
      return out;
    }));
  // Send copies to the host before handing the tensor to the rendezvous.
  k.emplace_back("Send", [](KernelContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(GpuDevice * d, Gpu(c));
    if (c.services() == nullptr) return FailedPrecondition("Send needs step services (a rendezvous)");
    FLOWPS_ASSIGN_OR_RETURN(std::string key, c.attr<std::string>("key"));
    if (c.num_inputs() == 0) return c.services()->Send(key, Tensor::Scalar<int32_t>(0));
    FLOWPS_ASSIGN_OR_RETURN(Tensor host, d->CopyToHost(c.input(0)));
    return c.services()->Send(key, std::move(host));
  });
  return k;
}

// Recv receives a host tensor and copies it to the GPU.
void RecvOnGpu(KernelContext& c, std::function<void(Status)> done) {
  auto* d = dynamic_cast<GpuDevice*>(c.device());
  if (d == nullptr) return done(FailedPrecondition(Where(c) + " runs only in an executor made with a GpuDevice"));
  if (c.services() == nullptr) return done(FailedPrecondition("Recv needs step services (a rendezvous)"));
  auto key = c.attr<std::string>("key");
  if (!key.ok()) return done(key.status());
  c.services()->RecvAsync(*key, [&c, d, done = std::move(done), key = *key](StatusOr<Tensor> t) {
    if (!t.ok()) return done(t.status());
    Status s = t->Check(c.node().output_dtype(0), c.node().output_shape(0), "tensor received for key '" + key + "'");
    if (!s.ok()) return done(s);
    StatusOr<Tensor> on_gpu = t->on_device() ? std::move(t) : d->CopyToDevice(*t);
    if (!on_gpu.ok()) return done(on_gpu.status());
    c.set_output(0, std::move(on_gpu).value());
    done(Status::OK());
  });
}

}  // namespace

StatusOr<Tensor> CublasMatMul(GpuDevice& d, const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b) {
  if (a.shape().rank() != 2 || b.shape().rank() != 2)
    return InvalidArgument("MatMul needs rank-2 operands, got " + a.shape().ToString() + " and " + b.shape().ToString());
  const int64_t m = a.shape().dim(transpose_a ? 1 : 0), k = a.shape().dim(transpose_a ? 0 : 1);
  const int64_t kb = b.shape().dim(transpose_b ? 1 : 0), n = b.shape().dim(transpose_b ? 0 : 1);
  if (k != kb)
    return InvalidArgument("MatMul inner dimensions differ: " + a.shape().ToString() + (transpose_a ? "^T" : "") +
                           " x " + b.shape().ToString() + (transpose_b ? "^T" : ""));
  for (int64_t v : {m, n, k, a.shape().dim(1), b.shape().dim(1)})
    if (v > INT_MAX) return InvalidArgument("MatMul dimension " + std::to_string(v) + " is beyond cuBLAS's int range");
  FLOWPS_RETURN_IF_ERROR(d.MakeCurrent());
  FLOWPS_ASSIGN_OR_RETURN(Tensor c, d.Allocate(DType::kFloat32, Shape{m, n}));
  if (m == 0 || n == 0) return c;
  if (k == 0) {
    FLOWPS_RETURN_IF_ERROR(CudaStatus(cudaMemsetAsync(c.raw_data(), 0, c.num_bytes(), d.stream()), "cudaMemsetAsync"));
    return c;
  }
  const float one = 1.f, zero = 0.f;
  std::lock_guard<std::mutex> lock(d.cublas_mutex());
  const cublasStatus_t s = cublasSgemm(
      d.cublas(), transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N, transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n),
      static_cast<int>(m), static_cast<int>(k), &one, b.data<float>(), static_cast<int>(b.shape().dim(1)),
      a.data<float>(), static_cast<int>(a.shape().dim(1)), &zero, c.data<float>(), static_cast<int>(n));
  if (s != CUBLAS_STATUS_SUCCESS) return Internal(std::string("cublasSgemm: ") + cublasGetStatusString(s));
  return c;
}

Status RegisterCudaKernels(OpRegistry* registry) {
  for (auto& [name, fn] : GpuKernels()) FLOWPS_RETURN_IF_ERROR(registry->AddKernel(name, DeviceType::kGPU, std::move(fn)));
  // These kernels only pass Tensor values on (views, no data access), so the
  // CPU kernel is also the GPU kernel.
  for (const char* name : {"Identity", "Reshape", "ReshapeLike", "NoOp"}) {
    const OpDef* def = registry->Find(name);
    if (def == nullptr || !def->kernels.count(DeviceType::kCPU))
      return NotFound(std::string("op ") + name + " with a CPU kernel is not registered");
    FLOWPS_RETURN_IF_ERROR(registry->AddKernel(name, DeviceType::kGPU, def->kernels.at(DeviceType::kCPU)));
  }
  // Const computes its value on the host, then copies it over.
  const OpDef* konst = registry->Find("Const");
  if (konst == nullptr || !konst->kernels.count(DeviceType::kCPU)) return NotFound("op Const is not registered");
  FLOWPS_RETURN_IF_ERROR(registry->AddKernel("Const", DeviceType::kGPU, [cpu = konst->kernels.at(DeviceType::kCPU)](KernelContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(GpuDevice * d, Gpu(c));
    FLOWPS_RETURN_IF_ERROR(cpu(c));
    for (Tensor& out : c.outputs()) {
      FLOWPS_ASSIGN_OR_RETURN(out, d->CopyToDevice(out));
    }
    return Status::OK();
  }));
  return registry->AddAsyncKernel("Recv", DeviceType::kGPU, RecvOnGpu);
}

}  // namespace flowps

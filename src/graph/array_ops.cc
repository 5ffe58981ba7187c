// Array ops: sources, structure, shapes, gathers. One record per op.
#include <algorithm>

#include "graph/op_util.h"
#include "graph/ops.h"
#include "kernels/array_kernels.h"
#include "kernels/strided.h"

namespace flowps {
namespace {

using Ints = std::vector<int64_t>;

Status PassThrough(Node&, const std::vector<GradValue>&, std::vector<GradValue>*) { return Status::OK(); }

// Reshape's target: at most one -1, resolved from `count` when known.
StatusOr<Shape> ResolveReshape(const Shape& target, int64_t count) {
  int unknown = -1;
  int64_t known = 1;
  for (int i = 0; i < target.rank(); ++i) {
    if (target.dim(i) == -1) {
      if (unknown >= 0) return InvalidArgument("Reshape to " + target.ToString() + ": more than one -1");
      unknown = i;
    } else if (target.dim(i) < 0) {
      return InvalidArgument("Reshape to " + target.ToString() + ": bad dimension");
    } else {
      known *= target.dim(i);
    }
  }
  if (count < 0) return target;
  std::vector<int64_t> dims = target.dims();
  if (unknown >= 0) {
    if (known == 0 || count % known != 0)
      return InvalidArgument("cannot reshape " + std::to_string(count) + " elements to " + target.ToString());
    dims[unknown] = count / known;
  } else if (known != count) {
    return InvalidArgument("cannot reshape " + std::to_string(count) + " elements to " + target.ToString());
  }
  return Shape(std::move(dims));
}

OpDef ConstOp() {
  OpDef d = NewOp("Const", 0);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(Tensor v, c.attr<Tensor>("value"));
    if (!v.valid()) return InvalidArgument("attribute 'value' is an empty tensor");
    c.add_output(v.dtype(), v.shape());
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) { return c.attr<Tensor>("value"); });
  d.grad = PassThrough;
  return d;
}

OpDef PlaceholderOp() {
  OpDef d = NewOp("Placeholder", 0);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(DType dtype, c.attr<DType>("dtype"));
    FLOWPS_ASSIGN_OR_RETURN(Shape shape, c.attr<Shape>("shape"));
    c.add_output(dtype, shape);
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = [](KernelContext& c) -> Status {
    return InvalidArgument("placeholder must be fed");
  };
  d.grad = PassThrough;
  return d;
}

OpDef IdentityOp() {
  OpDef d = NewOp("Identity", 1);
  d.shape_fn = [](ShapeContext& c) -> Status {
    c.add_output(c.input_dtype(0), c.input_shape(0));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> { return c.input(0); });
  d.grad = [](Node& n, const std::vector<GradValue>& dy, std::vector<GradValue>* dx) -> Status {
    (*dx)[0] = dy[0];
    return Status::OK();
  };
  return d;
}

OpDef NoOpOp() {
  OpDef d = NewOp("NoOp", 0);
  d.shape_fn = [](ShapeContext&) { return Status::OK(); };
  d.kernels[DeviceType::kCPU] = [](KernelContext&) { return Status::OK(); };
  d.grad = PassThrough;
  return d;
}

// ZerosLike / OnesLike: no gradient flows into x (the output does not depend on its values).
OpDef FillLikeOp(const std::string& name, float value) {
  OpDef d = NewOp(name, 1);
  d.shape_fn = [value](ShapeContext& c) -> Status {
    if (value != 0) FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 0, DType::kFloat32));
    c.add_output(c.input_dtype(0), c.input_shape(0));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([value](KernelContext& c) -> StatusOr<Tensor> {
    Tensor t = Tensor::Zeros(c.input(0).dtype(), c.input(0).shape());
    if (value != 0) std::fill_n(t.data<float>(), t.num_elements(), value);
    return t;
  });
  d.grad = PassThrough;
  return d;
}

OpDef ReshapeOp() {
  OpDef d = NewOp("Reshape", 1);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(Shape target, c.attr<Shape>("shape"));
    FLOWPS_ASSIGN_OR_RETURN(Shape out, ResolveReshape(target, c.input_shape(0).num_elements()));
    c.add_output(c.input_dtype(0), out);
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(Shape target, c.attr<Shape>("shape"));
    FLOWPS_ASSIGN_OR_RETURN(Shape out, ResolveReshape(target, c.input(0).num_elements()));
    return c.input(0).Reshaped(out);
  });
  d.grad = [](Node& n, const std::vector<GradValue>& dy, std::vector<GradValue>* dx) -> Status {
    (*dx)[0] = Dense(ReshapeLike(dy[0].dense, n.input(0)));
    return Status::OK();
  };
  return d;
}

OpDef ReshapeLikeOp() {
  OpDef d = NewOp("ReshapeLike", 2);
  d.shape_fn = [](ShapeContext& c) -> Status {
    int64_t a = c.input_shape(0).num_elements(), b = c.input_shape(1).num_elements();
    if (a >= 0 && b >= 0 && a != b)
      return InvalidArgument("cannot reshape " + c.input_shape(0).ToString() + " like " + c.input_shape(1).ToString());
    c.add_output(c.input_dtype(0), c.input_shape(1));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput(
      [](KernelContext& c) -> StatusOr<Tensor> { return c.input(0).Reshaped(c.input(1).shape()); });
  d.grad = [](Node& n, const std::vector<GradValue>& dy, std::vector<GradValue>* dx) -> Status {
    (*dx)[0] = Dense(ReshapeLike(dy[0].dense, n.input(0)));
    return Status::OK();
  };
  return d;
}

OpDef TransposeOp() {
  OpDef d = NewOp("Transpose", 1);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(Ints perm, c.attr<Ints>("perm"));
    const Shape& in = c.input_shape(0);
    if (static_cast<int>(perm.size()) != in.rank())
      return InvalidArgument("perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(in.rank()));
    Ints sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> dims;
    for (int i = 0; i < in.rank(); ++i) {
      if (sorted[i] != i) return InvalidArgument("perm is not a permutation of 0.." + std::to_string(in.rank() - 1));
      dims.push_back(in.dim(perm[i]));
    }
    c.add_output(c.input_dtype(0), Shape(dims));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(Ints perm, c.attr<Ints>("perm"));
    return kernels::Transpose(c.input(0), perm);
  });
  d.grad = [](Node& n, const std::vector<GradValue>& dy, std::vector<GradValue>* dx) -> Status {
    Ints perm = GetAttrOr<Ints>(n.attrs(), "perm", {});
    Ints inverse(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int64_t>(i);
    (*dx)[0] = Dense(Transpose(dy[0].dense, inverse));
    return Status::OK();
  };
  return d;
}

OpDef ConcatOp() {
  OpDef d = NewOp("Concat", -1);
  d.shape_fn = [](ShapeContext& c) -> Status {
    if (c.num_inputs() < 1) return InvalidArgument("Concat needs at least one input");
    FLOWPS_ASSIGN_OR_RETURN(int64_t axis, c.attr<int64_t>("axis"));
    const Shape& first = c.input_shape(0);
    if (axis < 0) axis += first.rank();
    if (axis < 0 || axis >= first.rank()) return InvalidArgument("axis out of range for " + first.ToString());
    std::vector<int64_t> dims = first.dims();
    for (int i = 1; i < c.num_inputs(); ++i) {
      const Shape& s = c.input_shape(i);
      FLOWPS_RETURN_IF_ERROR(ExpectDType(c, i, c.input_dtype(0)));
      if (s.rank() != first.rank()) return InvalidArgument("input " + std::to_string(i) + " has another rank");
      for (int k = 0; k < s.rank(); ++k) {
        if (k == axis) {
          dims[k] = (dims[k] < 0 || s.dim(k) < 0) ? -1 : dims[k] + s.dim(k);
        } else if (dims[k] >= 0 && s.dim(k) >= 0 && dims[k] != s.dim(k)) {
          return InvalidArgument("input " + std::to_string(i) + " " + s.ToString() + " does not fit " + first.ToString());
        } else if (dims[k] < 0) {
          dims[k] = s.dim(k);
        }
      }
    }
    c.add_output(c.input_dtype(0), Shape(dims));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(int64_t axis, c.attr<int64_t>("axis"));
    std::vector<Tensor> parts;
    for (int i = 0; i < c.num_inputs(); ++i) parts.push_back(c.input(i));
    if (axis < 0) axis += c.input(0).shape().rank();
    return kernels::Concat(parts, static_cast<int>(axis));
  });
  // Each input gets its slice of dy; needs the inputs' sizes along the axis.
  d.grad = [](Node& n, const std::vector<GradValue>& dy, std::vector<GradValue>* dx) -> Status {
    int64_t axis = GetAttrOr<int64_t>(n.attrs(), "axis", 0);
    const int rank = n.input(0).shape().rank();
    if (axis < 0) axis += rank;
    int64_t offset = 0;
    for (int i = 0; i < n.num_inputs(); ++i) {
      int64_t len = n.input(i).shape().dim(axis);
      if (len < 0) return InvalidArgument("gradient of Concat needs static sizes along the axis");
      Ints begin(rank, 0), size(rank, -1);
      begin[axis] = offset;
      size[axis] = len;
      (*dx)[i] = Dense(Slice(dy[0].dense, begin, size));
      offset += len;
    }
    return Status::OK();
  };
  return d;
}

OpDef SliceOp() {
  OpDef d = NewOp("Slice", 1);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(Ints begin, c.attr<Ints>("begin"));
    FLOWPS_ASSIGN_OR_RETURN(Ints size, c.attr<Ints>("size"));
    FLOWPS_ASSIGN_OR_RETURN(Shape out, kernels::SliceShape(c.input_shape(0), begin, size));
    c.add_output(c.input_dtype(0), out);
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(Ints begin, c.attr<Ints>("begin"));
    FLOWPS_ASSIGN_OR_RETURN(Ints size, c.attr<Ints>("size"));
    return kernels::Slice(c.input(0), begin, size);
  });
  d.grad = [](Node& n, const std::vector<GradValue>& dy, std::vector<GradValue>* dx) -> Status {
    (*dx)[0] = Dense(SliceGrad(dy[0].dense, n.input(0), GetAttrOr<Ints>(n.attrs(), "begin", {})));
    return Status::OK();
  };
  return d;
}

constexpr int64_t kMaxSplit = 1 << 16;

// Split(x): num_split equal parts along axis, one output each. Its gradient
// concatenates the parts' gradients, zeros for parts no gradient reached.
OpDef SplitOp() {
  OpDef d = NewOp("Split", 1);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(int64_t num, c.attr<int64_t>("num_split"));
    FLOWPS_ASSIGN_OR_RETURN(int64_t axis, c.attr<int64_t>("axis"));
    if (num > kMaxSplit) return InvalidArgument("Split into " + std::to_string(num) + " parts: at most " + std::to_string(kMaxSplit));
    const Shape& in = c.input_shape(0);
    FLOWPS_ASSIGN_OR_RETURN(Shape part, kernels::SplitShape(in, num, static_cast<int>(axis < 0 ? axis + in.rank() : axis)));
    for (int64_t i = 0; i < num; ++i) c.add_output(c.input_dtype(0), part);
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = [](KernelContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(int64_t axis, c.attr<int64_t>("axis"));
    if (axis < 0) axis += c.input(0).shape().rank();
    FLOWPS_ASSIGN_OR_RETURN(std::vector<Tensor> parts,
                            kernels::Split(c.input(0), c.node().num_outputs(), static_cast<int>(axis)));
    for (int i = 0; i < c.node().num_outputs(); ++i) c.set_output(i, std::move(parts[i]));
    return Status::OK();
  };
  d.grad = [](Node& n, const std::vector<GradValue>& dy, std::vector<GradValue>* dx) -> Status {
    std::vector<Output> parts;
    for (int i = 0; i < n.num_outputs(); ++i) parts.push_back(dy[i].valid() ? dy[i].dense : ZerosLike(n.output(i)));
    (*dx)[0] = Dense(Concat(parts, GetAttrOr<int64_t>(n.attrs(), "axis", 0)));
    return Status::OK();
  };
  return d;
}

OpDef SliceGradOp() {
  OpDef d = NewOp("SliceGrad", 2);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(Ints begin, c.attr<Ints>("begin"));
    FLOWPS_ASSIGN_OR_RETURN(Shape fits, kernels::SliceShape(c.input_shape(1), begin, c.input_shape(0).dims()));
    (void)fits;
    c.add_output(c.input_dtype(0), c.input_shape(1));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(Ints begin, c.attr<Ints>("begin"));
    return kernels::SliceGrad(c.input(0), c.input(1).shape(), begin);
  });
  d.grad = [](Node& n, const std::vector<GradValue>& dy, std::vector<GradValue>* dx) -> Status {
    const Shape& s = n.input(0).shape();
    if (!s.fully_defined()) return InvalidArgument("gradient of SliceGrad needs a static slice shape");
    (*dx)[0] = Dense(Slice(dy[0].dense, GetAttrOr<Ints>(n.attrs(), "begin", {}), s.dims()));
    return Status::OK();
  };
  return d;
}

OpDef GatherOp() {
  OpDef d = NewOp("Gather", 2);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(ExpectIndices(c, 1));
    const Shape& params = c.input_shape(0);
    if (params.rank() < 1) return InvalidArgument("params must have rank >= 1");
    std::vector<int64_t> dims = c.input_shape(1).dims();
    for (int i = 1; i < params.rank(); ++i) dims.push_back(params.dim(i));
    c.add_output(c.input_dtype(0), Shape(dims));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput(
      [](KernelContext& c) { return kernels::Gather(c.input(0), c.input(1)); });
  // Sparse: the rows picked, not a dense tensor of params' shape.
  d.grad = [](Node& n, const std::vector<GradValue>& dy, std::vector<GradValue>* dx) -> Status {
    const Shape& params = n.input(0).shape();
    std::vector<int64_t> row{-1};
    for (int i = 1; i < params.rank(); ++i) row.push_back(params.dim(i));
    GradValue g;
    g.indices = Reshape(n.input(1), Shape{-1});
    g.values = Reshape(dy[0].dense, Shape(row));
    g.dense_shape = params;
    (*dx)[0] = g;
    return Status::OK();
  };
  return d;
}

OpDef CastOp() {
  OpDef d = NewOp("Cast", 1);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_ASSIGN_OR_RETURN(DType to, c.attr<DType>("dtype"));
    if (to == DType::kBFloat16 || c.input_dtype(0) == DType::kBFloat16)
      return InvalidArgument("Cast supports float32, int32 and int64");
    c.add_output(to, c.input_shape(0));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(DType to, c.attr<DType>("dtype"));
    return kernels::Cast(c.input(0), to);
  });
  // Only a float-to-float cast passes a gradient; integers get none.
  d.grad = [](Node& n, const std::vector<GradValue>& dy, std::vector<GradValue>* dx) -> Status {
    if (n.input(0).dtype() == DType::kFloat32 && n.output_dtype(0) == DType::kFloat32) (*dx)[0] = dy[0];
    return Status::OK();
  };
  return d;
}

OpDef SparseToDenseOp() {
  OpDef d = NewOp("SparseToDense", 3);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(ExpectIndices(c, 0));
    FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 1, DType::kFloat32));
    FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 2, DType::kFloat32));
    c.add_output(DType::kFloat32, c.input_shape(2));
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput(
      [](KernelContext& c) { return kernels::ScatterRowsAdd(c.input(0), c.input(1), c.input(2).shape()); });
  d.grad = [](Node& n, const std::vector<GradValue>& dy, std::vector<GradValue>* dx) -> Status {
    (*dx)[1] = Dense(ReshapeLike(Gather(dy[0].dense, n.input(0)), n.input(1)));
    return Status::OK();
  };
  return d;
}

// The combiner attribute of SegmentCombine / SegmentExpand: true for "mean".
StatusOr<bool> CombinerIsMean(const AttrMap& attrs) {
  FLOWPS_ASSIGN_OR_RETURN(std::string combiner, GetAttr<std::string>(attrs, "combiner"));
  if (combiner != "sum" && combiner != "mean")
    return InvalidArgument("combiner must be \"sum\" or \"mean\", got \"" + combiner + "\"");
  return combiner == "mean";
}

// Shape of a per-example tensor [batch, row...] from rows [n, row...] and
// offsets [batch + 1] (or the reverse with `rows_out`).
Status SegmentShape(ShapeContext& c, bool rows_out) {
  FLOWPS_RETURN_IF_ERROR(CombinerIsMean(c.attrs()).status());
  FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 0, DType::kFloat32));
  FLOWPS_RETURN_IF_ERROR(ExpectDType(c, 1, DType::kInt64));
  const Shape& x = c.input_shape(0);
  const Shape& offsets = c.input_shape(1);
  if (x.rank() < 1) return InvalidArgument("the rows must have rank >= 1");
  if (offsets.rank() != 1) return InvalidArgument("offsets must be int64 [batch + 1]");
  std::vector<int64_t> dims = x.dims();
  dims[0] = rows_out ? -1 : (offsets.dim(0) < 0 ? -1 : offsets.dim(0) - 1);
  c.add_output(DType::kFloat32, Shape(dims));
  return Status::OK();
}

// Sum or mean of each example's rows (a ragged batch's offsets): the sparse
// combiner of an embedding lookup. Its gradient is SegmentExpand, rows-sized,
// so a lookup's gradient stays sparse.
OpDef SegmentCombineOp() {
  OpDef d = NewOp("SegmentCombine", 2);
  d.shape_fn = [](ShapeContext& c) { return SegmentShape(c, false); };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(bool mean, CombinerIsMean(c.node().attrs()));
    return kernels::SegmentCombine(c.input(0), c.input(1), mean);
  });
  d.grad = [](Node& n, const std::vector<GradValue>& dy, std::vector<GradValue>* dx) -> Status {
    (*dx)[0] = Dense(SegmentExpand(dy[0].dense, n.input(1), GetAttrOr<std::string>(n.attrs(), "combiner", "sum")));
    return Status::OK();
  };
  return d;
}

OpDef SegmentExpandOp() {
  OpDef d = NewOp("SegmentExpand", 2);
  d.shape_fn = [](ShapeContext& c) { return SegmentShape(c, true); };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(bool mean, CombinerIsMean(c.node().attrs()));
    return kernels::SegmentExpand(c.input(0), c.input(1), mean);
  });
  // SegmentCombine and SegmentExpand are each other's adjoints.
  d.grad = [](Node& n, const std::vector<GradValue>& dy, std::vector<GradValue>* dx) -> Status {
    (*dx)[0] = Dense(SegmentCombine(dy[0].dense, n.input(1), GetAttrOr<std::string>(n.attrs(), "combiner", "sum")));
    return Status::OK();
  };
  return d;
}

}  // namespace

Status RegisterArrayOps(OpRegistry* r) {
  for (OpDef d : {ConstOp(), PlaceholderOp(), IdentityOp(), NoOpOp(), FillLikeOp("ZerosLike", 0),
                  FillLikeOp("OnesLike", 1), ReshapeOp(), ReshapeLikeOp(), TransposeOp(), ConcatOp(), SliceOp(),
                  SplitOp(), SliceGradOp(), GatherOp(), SparseToDenseOp(), SegmentCombineOp(), SegmentExpandOp(), CastOp()})
    FLOWPS_RETURN_IF_ERROR(r->Register(std::move(d)));
  return Status::OK();
}

}  // namespace flowps

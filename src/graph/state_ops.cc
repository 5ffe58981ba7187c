// State ops: Variable reads a named variable, Assign stages a new value. Both
// go through the step's KernelServices; neither changes a variable by itself.
#include "graph/kernel_services.h"
#include "graph/model_roles.h"
#include "graph/op_util.h"

namespace flowps {
namespace {

// Checks attrs var_name, dtype and a fully defined shape; adds the output.
Status VariableShape(ShapeContext& c) {
  FLOWPS_ASSIGN_OR_RETURN(std::string var, c.attr<std::string>("var_name"));
  FLOWPS_ASSIGN_OR_RETURN(DType dtype, c.attr<DType>("dtype"));
  FLOWPS_ASSIGN_OR_RETURN(Shape shape, c.attr<Shape>("shape"));
  if (var.empty()) return InvalidArgument("attribute 'var_name' is empty");
  if (!shape.fully_defined()) return InvalidArgument("variable '" + var + "' needs a fully defined shape, got " + shape.ToString());
  auto init = InitializerFromAttrs(c.attrs());
  if (!init.ok()) return init.status().WithContext("variable '" + var + "': initializer");
  if (init->has_value())
    FLOWPS_RETURN_IF_ERROR(InitializerFits(**init, dtype, shape).WithContext("variable '" + var + "'"));
  c.add_output(dtype, shape);
  return Status::OK();
}

StatusOr<KernelServices*> Services(KernelContext& c) {
  if (c.services() == nullptr) return FailedPrecondition("the step has no variable store");
  return c.services();
}

OpDef VariableOp() {
  OpDef d = NewOp("Variable", 0, true);
  d.shape_fn = VariableShape;
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(std::string var, c.attr<std::string>("var_name"));
    FLOWPS_ASSIGN_OR_RETURN(KernelServices * services, Services(c));
    return services->ReadVariable(var);
  });
  d.grad = [](Node&, const std::vector<GradValue>&, std::vector<GradValue>*) { return Status::OK(); };
  return d;
}

OpDef AssignOp() {
  OpDef d = NewOp("Assign", 1, true);
  d.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(VariableShape(c));
    const Shape& in = c.input_shape(0);
    const Shape& var = c.output_shapes()[0];
    bool fits = in.rank() == var.rank() && c.input_dtype(0) == c.output_dtypes()[0];
    for (int i = 0; fits && i < in.rank(); ++i) fits = in.dim(i) < 0 || in.dim(i) == var.dim(i);
    if (!fits)
      return InvalidArgument(std::string("value ") + DTypeName(c.input_dtype(0)) + in.ToString() +
                             " does not fit the variable's " + DTypeName(c.output_dtypes()[0]) + var.ToString());
    return Status::OK();
  };
  d.kernels[DeviceType::kCPU] = OneOutput([](KernelContext& c) -> StatusOr<Tensor> {
    FLOWPS_ASSIGN_OR_RETURN(std::string var, c.attr<std::string>("var_name"));
    FLOWPS_ASSIGN_OR_RETURN(KernelServices * services, Services(c));
    FLOWPS_RETURN_IF_ERROR(services->StageAssign(var, c.input(0)));
    return c.input(0);
  });
  return d;
}

}  // namespace

Status RegisterStateOps(OpRegistry* r) {
  FLOWPS_RETURN_IF_ERROR(r->Register(VariableOp()));
  return r->Register(AssignOp());
}

}  // namespace flowps

// Send and Recv: the two ends of a cross-device edge (see partition.h). Both
// talk to the step's KernelServices; Recv is asynchronous so that no pool
// thread waits for a tensor.
#include "graph/kernel_services.h"
#include "graph/op_registry.h"
#include "graph/op_util.h"

namespace flowps {
namespace {

Status CheckKeyAttrs(const ShapeContext& c) {
  for (const char* a : {"key", "send_device", "recv_device"}) {
    auto v = c.attr<std::string>(a);
    if (!v.ok()) return v.status();
    if (v->empty()) return InvalidArgument(std::string("attribute '") + a + "' is empty");
  }
  return Status::OK();
}

OpDef SendOp() {
  OpDef op;
  op.name = "Send";
  op.num_inputs = -1;  // one tensor, or none for a control signal
  op.stateful = true;
  op.shape_fn = [](ShapeContext& c) -> Status {
    if (c.num_inputs() > 1) return InvalidArgument("Send takes at most one input");
    return CheckKeyAttrs(c);
  };
  op.kernels[DeviceType::kCPU] = [](KernelContext& c) -> Status {
    if (c.services() == nullptr) return FailedPrecondition("Send needs step services (a rendezvous)");
    auto key = c.attr<std::string>("key");
    if (!key.ok()) return key.status();
    return c.services()->Send(*key, c.num_inputs() == 1 ? c.input(0) : Tensor::Scalar<int32_t>(0));
  };
  return op;
}

OpDef RecvOp() {
  OpDef op;
  op.name = "Recv";
  op.num_inputs = 0;
  op.stateful = true;
  op.shape_fn = [](ShapeContext& c) -> Status {
    FLOWPS_RETURN_IF_ERROR(CheckKeyAttrs(c));
    auto dtype = c.attr<DType>("dtype");
    if (!dtype.ok()) return dtype.status();
    auto shape = c.attr<Shape>("shape");
    if (!shape.ok()) return shape.status();
    c.add_output(*dtype, *shape);
    return Status::OK();
  };
  op.async_kernels[DeviceType::kCPU] = [](KernelContext& c, std::function<void(Status)> done) {
    if (c.services() == nullptr) return done(FailedPrecondition("Recv needs step services (a rendezvous)"));
    auto key = c.attr<std::string>("key");
    if (!key.ok()) return done(key.status());
    c.services()->RecvAsync(*key, [&c, done = std::move(done), key = *key](StatusOr<Tensor> t) {
      if (!t.ok()) return done(t.status());
      Status s = t->Check(c.node().output_dtype(0), c.node().output_shape(0), "tensor received for key '" + key + "'");
      if (!s.ok()) return done(s);
      c.set_output(0, std::move(t).value());
      done(Status::OK());
    });
  };
  return op;
}

}  // namespace

Status RegisterSendRecvOps(OpRegistry* registry) {
  FLOWPS_RETURN_IF_ERROR(registry->Register(SendOp()));
  return registry->Register(RecvOp());
}

}  // namespace flowps

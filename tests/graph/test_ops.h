// Minimal op records for testing graph passes without the standard op set:
// TestSource (0 inputs; attrs dtype, shape), TestVariable (stateful source
// with attr var_name), TestAdd (2 inputs, same shape), TestAssign (stateful;
// one value input; attr var_name).
// Kernels: TestSource fills its output with attr "value" (double), TestAdd adds.
#pragma once

#include "graph/op_registry.h"

namespace flowps::testing {

inline void RegisterTestOps(OpRegistry* r) {
  auto source_shape = [](ShapeContext& c) -> Status {
    auto d = c.attr<DType>("dtype");
    if (!d.ok()) return d.status();
    auto s = c.attr<Shape>("shape");
    if (!s.ok()) return s.status();
    c.add_output(*d, *s);
    return Status::OK();
  };
  auto fill = [](KernelContext& c) -> Status {
    Tensor* t = c.allocate_output(0, c.node().output_shape(0));
    double v = GetAttrOr<double>(c.node().attrs(), "value", 0.0);
    for (int64_t i = 0; i < t->num_elements(); ++i) t->data<float>()[i] = static_cast<float>(v + i);
    return Status::OK();
  };
  OpDef source{"TestSource", 0, false, source_shape, {{DeviceType::kCPU, fill}}, {}, {}};
  OpDef var{"TestVariable", 0, true, source_shape, {{DeviceType::kCPU, fill}}, {}, {}};
  auto add_shape = [](ShapeContext& c) -> Status {
    if (c.input_shape(0) != c.input_shape(1)) return InvalidArgument("TestAdd shapes differ");
    c.add_output(c.input_dtype(0), c.input_shape(0));
    return Status::OK();
  };
  auto add = [](KernelContext& c) -> Status {
    Tensor* t = c.allocate_output(0, c.input(0).shape());
    for (int64_t i = 0; i < t->num_elements(); ++i)
      t->data<float>()[i] = c.input(0).data<float>()[i] + c.input(1).data<float>()[i];
    return Status::OK();
  };
  OpDef add_op{"TestAdd", 2, false, add_shape, {{DeviceType::kCPU, add}}, {}, {}};
  auto assign_shape = [](ShapeContext&) { return Status::OK(); };
  OpDef assign{"TestAssign", 1, true, assign_shape, {}, {}, {}};
  (void)r->Register(source);
  (void)r->Register(var);
  (void)r->Register(add_op);
  (void)r->Register(assign);
}

inline Node* AddTestNode(Graph& g, const std::string& op, const std::string& name, std::vector<Output> inputs,
                         Shape shape = Shape{2}, const std::string& device = "") {
  NodeSpec spec{op, name, std::move(inputs), {}, {}, device};
  if (op == "TestSource" || op == "TestVariable") {
    spec.attrs["dtype"] = DType::kFloat32;
    spec.attrs["shape"] = shape;
  }
  if (op == "TestVariable") spec.attrs["var_name"] = name;
  auto n = g.AddNode(std::move(spec));
  return n.ok() ? *n : nullptr;
}

}  // namespace flowps::testing

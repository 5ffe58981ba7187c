#include "graph/graph.h"

#include "graph/op_registry.h"

namespace flowps {

DType Output::dtype() const { return node->output_dtype(index); }
const Shape& Output::shape() const { return node->output_shape(index); }
Graph* Output::graph() const { return node->graph(); }
std::string Output::name() const { return node->name() + ":" + std::to_string(index); }

std::string Graph::ScopedName(const std::string& hint) const {
  std::string base;
  for (const auto& s : name_scopes_) base += s + "/";
  return base + hint;
}

std::string Graph::UniqueName(const std::string& hint) {
  std::string base = ScopedName(hint);
  if (!by_name_.count(base) && !name_counts_.count(base)) {
    name_counts_[base] = 0;
    return base;
  }
  for (;;) {
    std::string candidate = base + "_" + std::to_string(++name_counts_[base]);
    if (!by_name_.count(candidate)) return candidate;
  }
}

StatusOr<Node*> Graph::AddNode(NodeSpec spec) {
  const OpDef* def = registry_->Find(spec.op);
  std::string where = "node '" + (spec.name.empty() ? spec.op : spec.name) + "' (op " + spec.op + ")";
  if (def == nullptr) return NotFound(where + ": unknown op");
  if (def->num_inputs >= 0 && static_cast<int>(spec.inputs.size()) != def->num_inputs)
    return InvalidArgument(where + ": expected " + std::to_string(def->num_inputs) + " inputs, got " +
                           std::to_string(spec.inputs.size()));
  std::vector<DType> in_dtypes;
  std::vector<Shape> in_shapes;
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    const Output& in = spec.inputs[i];
    if (!in.valid() || in.node->graph() != this || in.index < 0 || in.index >= in.node->num_outputs())
      return InvalidArgument(where + ": input " + std::to_string(i) + " is not an output of this graph");
    in_dtypes.push_back(in.dtype());
    in_shapes.push_back(in.shape());
  }
  ShapeContext ctx(spec, std::move(in_dtypes), std::move(in_shapes));
  Status s = def->shape_fn(ctx);
  if (!s.ok()) return s.WithContext(where);

  auto node = std::unique_ptr<Node>(new Node());
  node->id_ = static_cast<int>(nodes_.size());
  node->name_ = UniqueName(spec.name.empty() ? spec.op : spec.name);
  node->op_ = spec.op;
  node->def_ = def;
  node->graph_ = this;
  node->inputs_ = std::move(spec.inputs);
  node->control_inputs_ = std::move(spec.control_inputs);
  node->attrs_ = std::move(spec.attrs);
  node->output_dtypes_ = ctx.output_dtypes();
  node->output_shapes_ = ctx.output_shapes();
  node->requested_device_ = !spec.device.empty() ? spec.device
                            : devices_.empty()   ? std::string()
                                                 : devices_.back();
  Node* raw = node.get();
  by_name_[raw->name_] = raw;
  nodes_.push_back(std::move(node));
  return raw;
}

Node* Graph::AddNodeOrRecord(NodeSpec spec) {
  for (const Output& in : spec.inputs)
    if (!in.valid()) return nullptr;  // an earlier error is already recorded
  if (!status_.ok()) return nullptr;
  auto n = AddNode(std::move(spec));
  if (!n.ok()) {
    RecordError(n.status());
    return nullptr;
  }
  return *n;
}

Node* Graph::FindNode(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

StatusOr<Output> Graph::FindOutput(const std::string& name) const {
  std::string node_name = name;
  int index = 0;
  auto colon = name.rfind(':');
  if (colon != std::string::npos) {
    node_name = name.substr(0, colon);
    try {
      index = std::stoi(name.substr(colon + 1));
    } catch (...) {
      return InvalidArgument("bad tensor name '" + name + "'");
    }
  }
  Node* n = FindNode(node_name);
  if (n == nullptr) return NotFound("no node named '" + node_name + "'");
  if (index < 0 || index >= n->num_outputs())
    return InvalidArgument("node '" + node_name + "' has no output " + std::to_string(index));
  return Output{n, index};
}

std::vector<std::vector<std::pair<Node*, int>>> Graph::Consumers() const {
  std::vector<std::vector<std::pair<Node*, int>>> out(nodes_.size());
  for (const auto& n : nodes_)
    for (int i = 0; i < n->num_inputs(); ++i) out[n->input(i).node->id()].push_back({n.get(), i});
  return out;
}

const char* DeviceTypeName(DeviceType t) { return t == DeviceType::kGPU ? "gpu" : "cpu"; }

Status OpRegistry::Register(OpDef def) {
  if (!def.shape_fn) return InvalidArgument("op " + def.name + " has no shape function");
  if (ops_.count(def.name)) return AlreadyExists("op " + def.name + " is already registered");
  std::string name = def.name;
  ops_[name] = std::make_unique<OpDef>(std::move(def));
  return Status::OK();
}

Status OpRegistry::AddKernel(const std::string& op, DeviceType device, KernelFn fn) {
  auto it = ops_.find(op);
  if (it == ops_.end()) return NotFound("no op " + op);
  it->second->kernels[device] = std::move(fn);
  return Status::OK();
}

Status OpRegistry::AddAsyncKernel(const std::string& op, DeviceType device, AsyncKernelFn fn) {
  auto it = ops_.find(op);
  if (it == ops_.end()) return NotFound("no op " + op);
  it->second->async_kernels[device] = std::move(fn);
  return Status::OK();
}

const OpDef* OpRegistry::Find(const std::string& name) const {
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : it->second.get();
}

std::vector<std::string> OpRegistry::OpNames() const {
  std::vector<std::string> names;
  for (const auto& [k, v] : ops_) names.push_back(k);
  return names;
}

}  // namespace flowps

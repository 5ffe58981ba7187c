#include "graph/gradients.h"

#include "graph/ops.h"

namespace flowps {
namespace {

std::string Where(const Node& n) { return "node '" + n.name() + "' (op " + n.op() + ")"; }

// While alive, nodes built request `device`; an empty device keeps the
// caller's scope (an empty DeviceScope would clear it).
class Colocation {
 public:
  Colocation(Graph& g, const std::string& device) : g_(device.empty() ? nullptr : &g) {
    if (g_ != nullptr) g_->PushDevice(device);
  }
  ~Colocation() {
    if (g_ != nullptr) g_->PopDevice();
  }
  Colocation(const Colocation&) = delete;
  Colocation& operator=(const Colocation&) = delete;

 private:
  Graph* g_;
};

// Sums the gradients flowing into `like` from several consumers.
GradValue Aggregate(const std::vector<GradValue>& parts, Output like) {
  if (parts.size() == 1) return parts[0];
  std::vector<Output> indices, values;
  for (const GradValue& p : parts)
    if (p.sparse()) {
      indices.push_back(p.indices);
      values.push_back(p.values);
    }
  bool same_index_type = true;
  for (const Output& i : indices) same_index_type = same_index_type && i.valid() && i.dtype() == indices[0].dtype();
  if (indices.size() == parts.size() && same_index_type) {
    GradValue g;
    g.indices = Concat(indices, 0);
    g.values = Concat(values, 0);
    g.dense_shape = parts[0].dense_shape;
    return g;
  }
  Output sum;
  for (const GradValue& p : parts) {
    Output d = DenseGradient(p, like);
    sum = sum.valid() ? Add(sum, d) : d;
  }
  return GradValue{sum, {}, {}, {}};
}

}  // namespace

Output DenseGradient(const GradValue& grad, Output like) {
  if (!grad.sparse()) return grad.dense;
  return SparseToDense(grad.indices, grad.values, like);
}

StatusOr<std::vector<GradValue>> Gradients(Output loss, const std::vector<Output>& xs) {
  if (!loss.valid()) return InvalidArgument("Gradients: the loss is not a valid output");
  Graph& g = *loss.graph();
  FLOWPS_RETURN_IF_ERROR(g.status());
  const int n = g.num_nodes();
  for (const Output& x : xs)
    if (!x.valid() || x.graph() != &g) return InvalidArgument("Gradients: an x is not an output of the loss's graph");

  // Node ids are a topological order of data edges (inputs exist first), so
  // one forward pass finds what depends on an x and one backward pass what
  // the loss depends on.
  std::vector<char> from_x(n, 0), to_loss(n, 0);
  for (const Output& x : xs) from_x[x.node->id()] = 1;
  for (int id = 0; id < n; ++id)
    for (const Output& in : g.nodes()[id]->inputs()) from_x[id] |= from_x[in.node->id()];
  to_loss[loss.node->id()] = 1;
  for (int id = loss.node->id(); id >= 0; --id)
    if (to_loss[id])
      for (const Output& in : g.nodes()[id]->inputs()) to_loss[in.node->id()] = 1;
  auto relevant = [&](int id) { return from_x[id] && to_loss[id]; };

  std::vector<std::vector<std::vector<GradValue>>> incoming(n);  // by node id, output
  std::vector<std::vector<GradValue>> summed(n);
  NameScope scope(g, "gradients");
  incoming[loss.node->id()].resize(loss.node->num_outputs());
  {
    Colocation on_loss(g, loss.node->requested_device());
    incoming[loss.node->id()][loss.index].push_back(GradValue{OnesLike(loss), {}, {}, {}});
  }

  for (int id = loss.node->id(); id >= 0; --id) {
    if (!relevant(id) || incoming[id].empty()) continue;
    Node& node = *g.nodes()[id];
    bool feeds_back = false;
    for (const Output& in : node.inputs()) feeds_back = feeds_back || relevant(in.node->id());
    // The gradient of an op runs where the op was asked to run (a layer's
    // backward pass on the layer's device). A source's summed gradient (a
    // variable's) stays in the caller's scope.
    Colocation colocate(g, feeds_back ? node.requested_device() : std::string());
    std::vector<GradValue> dy(node.num_outputs());
    for (int i = 0; i < node.num_outputs() && i < static_cast<int>(incoming[id].size()); ++i)
      if (!incoming[id][i].empty()) dy[i] = Aggregate(incoming[id][i], node.output(i));
    summed[id] = dy;
    if (!feeds_back) continue;
    if (!node.def().grad)
      return InvalidArgument("no gradient for " + Where(node) + " on the path from '" + loss.name() +
                             "' to the requested inputs");
    for (int i = 0; i < node.num_outputs(); ++i)
      if (dy[i].sparse()) dy[i] = GradValue{DenseGradient(dy[i], node.output(i)), {}, {}, {}};
    std::vector<GradValue> dx(node.num_inputs());
    FLOWPS_RETURN_IF_ERROR(node.def().grad(node, dy, &dx).WithContext("gradient of " + Where(node)));
    if (!g.status().ok()) return g.status().WithContext("gradient of " + Where(node));
    for (int i = 0; i < node.num_inputs(); ++i) {
      const Output& in = node.input(i);
      if (!dx[i].valid() || !relevant(in.node->id())) continue;
      auto& slots = incoming[in.node->id()];
      slots.resize(in.node->num_outputs());
      slots[in.index].push_back(dx[i]);
    }
  }

  std::vector<GradValue> result;
  for (const Output& x : xs) {
    const auto& s = summed[x.node->id()];
    result.push_back(x.index < static_cast<int>(s.size()) ? s[x.index] : GradValue{});
  }
  FLOWPS_RETURN_IF_ERROR(g.status());
  return result;
}

}  // namespace flowps

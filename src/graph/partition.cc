#include "graph/partition.h"

#include <queue>

#include "graph/op_registry.h"

namespace flowps {
namespace {

// Builds the partitions node by node, in topological order.
class Partitioner {
 public:
  explicit Partitioner(const Graph& graph) : graph_(graph) {}

  StatusOr<std::map<std::string, std::unique_ptr<Graph>>> Run(const std::vector<Node*>& roots) {
    FLOWPS_ASSIGN_OR_RETURN(std::vector<Node*> order, TopologicalOrder(graph_));
    std::vector<bool> keep(graph_.num_nodes(), roots.empty());
    for (std::vector<Node*> stack = roots; !stack.empty();) {
      Node* n = stack.back();
      stack.pop_back();
      if (keep[n->id()]) continue;
      keep[n->id()] = true;
      for (const Output& in : n->inputs()) stack.push_back(in.node);
      for (Node* c : n->control_inputs()) stack.push_back(c);
    }
    copies_.assign(graph_.num_nodes(), nullptr);
    for (Node* n : order)
      if (keep[n->id()]) FLOWPS_RETURN_IF_ERROR(Copy(*n));
    return std::move(parts_);
  }

 private:
  Graph& Part(const std::string& device) {
    auto& g = parts_[device];
    if (!g) g = std::make_unique<Graph>(&graph_.registry());
    return *g;
  }

  StatusOr<Node*> Add(const std::string& device, NodeSpec spec) {
    FLOWPS_ASSIGN_OR_RETURN(Node* n, Part(device).AddNode(std::move(spec)));
    n->set_assigned_device(device);
    return n;
  }

  // The Recv on `dst` of `src` (a tensor, or a control signal when index < 0),
  // adding the Send/Recv pair on first use.
  StatusOr<Node*> RecvFor(const Node& src, int index, const std::string& dst) {
    const std::string& src_dev = src.assigned_device();
    std::string tensor = index >= 0 ? src.name() + ":" + std::to_string(index) : "^" + src.name();
    std::string key = SendRecvKey(src_dev, tensor, dst);
    auto it = recvs_.find(key);
    if (it != recvs_.end()) return it->second;

    std::string hint = src.name() + (index >= 0 ? "_" + std::to_string(index) : "_ctrl");
    NodeSpec send{"Send", "_send_" + hint, {}, {}, {}, ""};
    send.attrs = {{"key", key}, {"send_device", src_dev}, {"recv_device", dst}};
    NodeSpec recv{"Recv", "_recv_" + hint, {}, {}, send.attrs, ""};
    Node* src_copy = copies_[src.id()];
    if (index >= 0) {
      send.inputs.push_back(src_copy->output(index));
      recv.attrs["dtype"] = src.output_dtype(index);
      recv.attrs["shape"] = src.output_shape(index);
    } else {
      send.control_inputs.push_back(src_copy);
      recv.attrs["dtype"] = DType::kInt32;
      recv.attrs["shape"] = Shape{};
    }
    FLOWPS_RETURN_IF_ERROR(Add(src_dev, std::move(send)).status());
    FLOWPS_ASSIGN_OR_RETURN(Node* r, Add(dst, std::move(recv)));
    recvs_[key] = r;
    return r;
  }

  Status Copy(const Node& n) {
    const std::string& dev = n.assigned_device();
    if (dev.empty())
      return FailedPrecondition("node '" + n.name() + "' (op " + n.op() + ") has no assigned device; run placement first");
    NodeSpec spec{n.op(), n.name(), {}, {}, n.attrs(), n.requested_device()};
    for (const Output& in : n.inputs()) {
      if (in.node->assigned_device() == dev) {
        spec.inputs.push_back(copies_[in.node->id()]->output(in.index));
      } else {
        FLOWPS_ASSIGN_OR_RETURN(Node* r, RecvFor(*in.node, in.index, dev));
        spec.inputs.push_back(r->output(0));
      }
    }
    for (Node* c : n.control_inputs()) {
      if (c->assigned_device() == dev) {
        spec.control_inputs.push_back(copies_[c->id()]);
      } else {
        FLOWPS_ASSIGN_OR_RETURN(Node* r, RecvFor(*c, -1, dev));
        spec.control_inputs.push_back(r);
      }
    }
    FLOWPS_ASSIGN_OR_RETURN(Node* copy, Add(dev, std::move(spec)));
    if (copy->name() != n.name())
      return Internal("partition renamed node '" + n.name() + "' to '" + copy->name() + "'");
    copies_[n.id()] = copy;
    return Status::OK();
  }

  const Graph& graph_;
  std::map<std::string, std::unique_ptr<Graph>> parts_;
  std::vector<Node*> copies_;                 // by original node id
  std::map<std::string, Node*> recvs_;        // by key
};

}  // namespace

std::string SendRecvKey(const std::string& src_device, const std::string& tensor_name,
                        const std::string& dst_device) {
  return src_device + ";" + tensor_name + ";" + dst_device;
}

StatusOr<std::vector<Node*>> TopologicalOrder(const Graph& graph) {
  const int n = graph.num_nodes();
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> out_edges(n);
  for (const auto& node : graph.nodes()) {
    for (const Output& in : node->inputs()) out_edges[in.node->id()].push_back(node->id());
    for (Node* c : node->control_inputs()) out_edges[c->id()].push_back(node->id());
    pending[node->id()] = node->num_inputs() + static_cast<int>(node->control_inputs().size());
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < n; ++i)
    if (pending[i] == 0) ready.push(i);
  std::vector<Node*> order;
  while (!ready.empty()) {
    int id = ready.top();
    ready.pop();
    order.push_back(graph.nodes()[id].get());
    for (int next : out_edges[id])
      if (--pending[next] == 0) ready.push(next);
  }
  if (static_cast<int>(order.size()) != n) {
    for (int i = 0; i < n; ++i)
      if (pending[i] > 0)
        return FailedPrecondition("graph has a cycle through node '" + graph.nodes()[i]->name() + "'");
  }
  return order;
}

StatusOr<std::map<std::string, std::unique_ptr<Graph>>> PartitionGraph(const Graph& graph,
                                                                       const std::vector<Node*>& roots) {
  return Partitioner(graph).Run(roots);
}

}  // namespace flowps

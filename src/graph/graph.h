// Graph: nodes (op instances) joined by tensor edges, plus control edges.
//
// A Graph owns its nodes; Node* and Output stay valid for the Graph's lifetime.
// Building is single-threaded; a built graph may be read by many threads.
// Every node added is checked at once by its op's shape function, so a bad
// graph is refused at the node that makes it bad.
//
// The builder API (see ops.h) records the first error in the graph, returns
// invalid Outputs after it, and lets the caller check graph.status() once,
// so model code reads like the math.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "graph/attr.h"

namespace flowps {

class Graph;
class Node;
struct OpDef;
class OpRegistry;

// One output of one node: an edge's source.
struct Output {
  Node* node = nullptr;
  int index = 0;

  bool valid() const { return node != nullptr; }
  DType dtype() const;
  const Shape& shape() const;  // inferred; may hold -1 for unknown dims
  Graph* graph() const;
  std::string name() const;  // "node_name:index"
  bool operator==(const Output&) const = default;
};

class Node {
 public:
  int id() const { return id_; }
  const std::string& name() const { return name_; }
  const std::string& op() const { return op_; }
  const OpDef& def() const { return *def_; }
  Graph* graph() const { return graph_; }
  const std::vector<Output>& inputs() const { return inputs_; }
  const Output& input(int i) const { return inputs_[i]; }
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  const std::vector<Node*>& control_inputs() const { return control_inputs_; }
  const AttrMap& attrs() const { return attrs_; }
  int num_outputs() const { return static_cast<int>(output_dtypes_.size()); }
  DType output_dtype(int i) const { return output_dtypes_[i]; }
  const Shape& output_shape(int i) const { return output_shapes_[i]; }
  Output output(int i = 0) { return Output{this, i}; }

  // The device the user asked for ("" if none), and the one placement chose.
  const std::string& requested_device() const { return requested_device_; }
  const std::string& assigned_device() const { return assigned_device_; }
  void set_assigned_device(std::string d) { assigned_device_ = std::move(d); }

  // Adds a control edge: this node runs after `n`.
  void AddControlInput(Node* n) { control_inputs_.push_back(n); }

 private:
  friend class Graph;
  Node() = default;
  int id_ = -1;
  std::string name_, op_;
  const OpDef* def_ = nullptr;
  Graph* graph_ = nullptr;
  std::vector<Output> inputs_;
  std::vector<Node*> control_inputs_;
  AttrMap attrs_;
  std::vector<DType> output_dtypes_;
  std::vector<Shape> output_shapes_;
  std::string requested_device_, assigned_device_;
};

// The roles that make a graph a model (see model_roles.h): set by the model's
// author, saved in the GraphDef, checked by ValidateModel.
struct InputRole {
  Node* placeholder = nullptr;
  std::string column;  // the data column that feeds it, e.g. "images"
};
struct MetricRole {
  std::string name;    // reported under this name, e.g. "accuracy"
  std::string kind;    // a MetricKind name: "mean", "accuracy", "auc"
  std::vector<Output> tensors;
};
// A recurrent state carried from one step to the next (truncated
// backpropagation through time): the worker feeds `initial`, a float32
// Placeholder whose first dimension is the batch, with the value `final` had
// after its previous step on the same rows, or with zeros (worker/local_model.h).
// No gradient flows across the boundary: `initial` is fed, not computed.
struct StateRole {
  Node* initial = nullptr;
  Output final;
};
struct GraphRoles {
  std::vector<InputRole> inputs;
  Output loss;  // invalid: not set
  std::vector<MetricRole> metrics;
  std::vector<StateRole> states;

  bool empty() const { return inputs.empty() && !loss.valid() && metrics.empty() && states.empty(); }
};

// Everything needed to add one node.
struct NodeSpec {
  std::string op;
  std::string name;  // a hint: made unique within the graph; "" uses the op name
  std::vector<Output> inputs;
  std::vector<Node*> control_inputs;
  AttrMap attrs;
  std::string device;  // "" takes the graph's current default device
};

class Graph {
 public:
  // REQUIRES: registry outlives the graph.
  explicit Graph(const OpRegistry* registry) : registry_(registry) {}
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Adds a node after checking its op, inputs and attributes and inferring its
  // outputs. The error names the node and the op.
  StatusOr<Node*> AddNode(NodeSpec spec);

  // Like AddNode, but records the first error in status() and returns nullptr;
  // does nothing if an input is invalid (an earlier error). Used by ops.h.
  Node* AddNodeOrRecord(NodeSpec spec);

  const Status& status() const { return status_; }
  void RecordError(const Status& s) {
    if (status_.ok()) status_ = s;
  }

  Node* FindNode(const std::string& name) const;
  // Parses "name" or "name:index".
  StatusOr<Output> FindOutput(const std::string& name) const;
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  const OpRegistry& registry() const { return *registry_; }

  // Consumers of each node's outputs, recomputed on each call: (node, input slot).
  std::vector<std::vector<std::pair<Node*, int>>> Consumers() const;

  // Builder scopes. Names built inside PushNameScope("layer1") get the prefix
  // "layer1/"; nodes built while a device is pushed request that device.
  void PushNameScope(const std::string& scope) { name_scopes_.push_back(scope); }
  void PopNameScope() { name_scopes_.pop_back(); }
  void PushDevice(const std::string& device) { devices_.push_back(device); }
  void PopDevice() { devices_.pop_back(); }

  // The model's roles; nodes they name must belong to this graph.
  GraphRoles& roles() { return roles_; }
  const GraphRoles& roles() const { return roles_; }

  std::string UniqueName(const std::string& hint);
  // `hint` under the current name scopes ("layer1/W"), not made unique.
  std::string ScopedName(const std::string& hint) const;

 private:
  const OpRegistry* registry_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unordered_map<std::string, Node*> by_name_;
  std::unordered_map<std::string, int> name_counts_;
  std::vector<std::string> name_scopes_;
  std::vector<std::string> devices_;
  GraphRoles roles_;
  Status status_;
};

// RAII helpers for the builder scopes.
class NameScope {
 public:
  NameScope(Graph& g, const std::string& s) : g_(g) { g_.PushNameScope(s); }
  ~NameScope() { g_.PopNameScope(); }
 private:
  Graph& g_;
};
class DeviceScope {
 public:
  DeviceScope(Graph& g, const std::string& d) : g_(g) { g_.PushDevice(d); }
  ~DeviceScope() { g_.PopDevice(); }
 private:
  Graph& g_;
};

}  // namespace flowps

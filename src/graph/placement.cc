#include "graph/placement.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "graph/device_name.h"
#include "graph/op_registry.h"

namespace flowps {
namespace {

// Canonicalises every device of the cluster; errors name the option.
StatusOr<std::vector<std::string>> CanonicalList(const std::vector<std::string>& names, const std::string& what) {
  std::vector<std::string> out;
  for (const auto& n : names) {
    auto d = ParseDeviceName(n);
    if (!d.ok()) return d.status().WithContext(what);
    out.push_back(d->ToString());
  }
  return out;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// The cluster device that satisfies a request, or an error; with soft
// placement a device that does not exist is the default device (noted in
// *soft_placed). A partial request ("/device:cpu:1") is completed from the
// default device.
StatusOr<std::string> ResolveRequest(const Node& node, const std::vector<std::string>& available,
                                     const DeviceName& default_device, const PlacementOptions& options,
                                     std::vector<std::string>* soft_placed) {
  auto where = "node '" + node.name() + "' (op " + node.op() + ")";
  auto parsed = ParseDeviceRequest(node.requested_device(), default_device);
  if (!parsed.ok()) return parsed.status().WithContext(where);
  std::string want = parsed->ToString();
  if (auto stand_in = options.stand_ins.find(want); stand_in != options.stand_ins.end()) want = stand_in->second;
  if (std::find(available.begin(), available.end(), want) != available.end()) return want;
  if (!parsed->has_device) {
    std::string cpu0 = want + "/device:cpu:0";
    if (std::find(available.begin(), available.end(), cpu0) != available.end()) return cpu0;
    for (const auto& a : available)
      if (a.rfind(want + "/", 0) == 0) return a;
  }
  if (options.soft_placement) {
    if (soft_placed != nullptr) soft_placed->push_back(where + ": " + want + " -> " + default_device.ToString());
    return default_device.ToString();
  }
  const std::string full = want == node.requested_device() ? "" : " (" + want + ")";
  return InvalidArgument(where + " requests device '" + node.requested_device() + "'" + full +
                         ", which does not exist (the devices: " + JoinNames(available) + ")");
}

// The variable a node reads or updates: its var_name attribute, else its name.
std::string VariableName(const Node& n) {
  return GetAttrOr<std::string>(n.attrs(), "var_name", n.name());
}

int64_t VariableBytes(const Node& n) {
  int64_t elems = n.num_outputs() > 0 ? n.output_shape(0).num_elements() : 0;
  return elems < 0 ? 0 : elems * static_cast<int64_t>(DTypeSize(n.output_dtype(0)));
}

}  // namespace

Status PlaceGraph(Graph* graph, const PlacementOptions& options, std::vector<std::string>* soft_placed) {
  FLOWPS_ASSIGN_OR_RETURN(auto ps, CanonicalList(options.ps_tasks, "placement ps_tasks"));
  FLOWPS_ASSIGN_OR_RETURN(auto workers, CanonicalList(options.worker_devices, "placement worker_devices"));
  FLOWPS_ASSIGN_OR_RETURN(auto defaults, CanonicalList({options.default_device}, "placement default_device"));
  const std::string default_device = defaults[0];
  FLOWPS_ASSIGN_OR_RETURN(DeviceName default_name, ParseDeviceName(default_device));
  std::vector<std::string> available = ps;
  available.insert(available.end(), workers.begin(), workers.end());
  if (std::find(available.begin(), available.end(), default_device) == available.end())
    available.push_back(default_device);

  const std::set<std::string> variable_ops(options.variable_ops.begin(), options.variable_ops.end());
  std::vector<std::string> assigned(graph->num_nodes());

  // 1. Explicit requests.
  for (const auto& n : graph->nodes()) {
    if (n->requested_device().empty()) continue;
    FLOWPS_ASSIGN_OR_RETURN(assigned[n->id()], ResolveRequest(*n, available, default_name, options, soft_placed));
  }

  // 2. Variables over ps tasks, greedy by bytes. Nodes reading the same
  // variable (attr var_name) form one group and land together.
  std::map<std::string, std::vector<Node*>> groups;
  for (const auto& n : graph->nodes())
    if (variable_ops.count(n->op())) groups[VariableName(*n)].push_back(n.get());
  std::map<std::string, int64_t> load;
  std::map<std::string, std::string> var_device;  // by variable name
  std::vector<std::pair<std::string, int64_t>> unplaced;
  for (const auto& [var, nodes] : groups) {
    std::string requested;
    for (Node* n : nodes) {
      const std::string& d = assigned[n->id()];
      if (d.empty()) continue;
      if (!requested.empty() && requested != d)
        return InvalidArgument("variable '" + var + "' is requested on both " + requested + " and " + d);
      requested = d;
    }
    if (requested.empty()) {
      unplaced.push_back({var, VariableBytes(*nodes[0])});
    } else {
      var_device[var] = requested;
      load[requested] += VariableBytes(*nodes[0]);
    }
  }
  std::sort(unplaced.begin(), unplaced.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  for (const auto& [var, bytes] : unplaced) {
    if (ps.empty()) {
      var_device[var] = default_device;
      continue;
    }
    size_t best = 0;
    for (size_t k = 1; k < ps.size(); ++k)
      if (load[ps[k]] < load[ps[best]]) best = k;
    var_device[var] = ps[best];
    load[ps[best]] += bytes;
  }

  // 3 and 4. Variable reads and updates go with their variable; the rest to
  // the default device.
  std::vector<bool> defaulted(graph->num_nodes(), false);
  for (const auto& n : graph->nodes()) {
    if (!assigned[n->id()].empty()) continue;
    auto it = var_device.end();
    if (variable_ops.count(n->op()) || n->def().stateful) it = var_device.find(VariableName(*n));
    defaulted[n->id()] = it == var_device.end();
    assigned[n->id()] = it != var_device.end() ? it->second : default_device;
  }

  // 5. A defaulted stateless source (a Const) whose consumers all sit on one
  // device moves there, so that it does not cross devices for nothing.
  // Consumers come later in node order, so one backward pass settles chains.
  auto consumers = graph->Consumers();
  for (int id = graph->num_nodes() - 1; id >= 0; --id) {
    const Node& n = *graph->nodes()[id];
    if (!defaulted[id] || n.def().stateful || n.num_inputs() > 0 || consumers[id].empty()) continue;
    const std::string& first = assigned[consumers[id][0].first->id()];
    bool one_device = true;
    for (const auto& [consumer, slot] : consumers[id]) one_device = one_device && assigned[consumer->id()] == first;
    if (one_device) assigned[id] = first;
  }
  for (const auto& n : graph->nodes()) n->set_assigned_device(assigned[n->id()]);
  return Status::OK();
}

}  // namespace flowps

#include "graph/placement.h"

#include <algorithm>
#include <map>
#include <set>

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

// The cluster device that satisfies a request, or an error.
StatusOr<std::string> ResolveRequest(const Node& node, const std::vector<std::string>& available) {
  auto where = "node '" + node.name() + "' (op " + node.op() + ")";
  auto parsed = ParseDeviceName(node.requested_device());
  if (!parsed.ok()) return parsed.status().WithContext(where);
  std::string want = parsed->ToString();
  if (std::find(available.begin(), available.end(), want) != available.end()) return want;
  if (!parsed->has_device) {
    std::string cpu0 = want + "/device:cpu:0";
    if (std::find(available.begin(), available.end(), cpu0) != available.end()) return cpu0;
    for (const auto& a : available)
      if (a.rfind(want + "/", 0) == 0) return a;
  }
  return InvalidArgument(where + " requests device '" + node.requested_device() +
                         "', which is not in the cluster (devices: " + JoinNames(available) + ")");
}

int64_t VariableBytes(const Node& n) {
  int64_t elems = n.num_outputs() > 0 ? n.output_shape(0).num_elements() : 0;
  return elems < 0 ? 0 : elems * static_cast<int64_t>(DTypeSize(n.output_dtype(0)));
}

}  // namespace

Status PlaceGraph(Graph* graph, const PlacementOptions& options) {
  FLOWPS_ASSIGN_OR_RETURN(auto ps, CanonicalList(options.ps_tasks, "placement ps_tasks"));
  FLOWPS_ASSIGN_OR_RETURN(auto workers, CanonicalList(options.worker_devices, "placement worker_devices"));
  FLOWPS_ASSIGN_OR_RETURN(auto defaults, CanonicalList({options.default_device}, "placement default_device"));
  const std::string default_device = defaults[0];
  std::vector<std::string> available = ps;
  available.insert(available.end(), workers.begin(), workers.end());
  if (std::find(available.begin(), available.end(), default_device) == available.end())
    available.push_back(default_device);

  const std::set<std::string> variable_ops(options.variable_ops.begin(), options.variable_ops.end());
  std::vector<std::string> assigned(graph->num_nodes());

  // 1. Explicit requests.
  for (const auto& n : graph->nodes()) {
    if (n->requested_device().empty()) continue;
    FLOWPS_ASSIGN_OR_RETURN(assigned[n->id()], ResolveRequest(*n, available));
  }

  // 2. Variables over ps tasks, greedy by bytes.
  std::vector<Node*> vars;
  for (const auto& n : graph->nodes())
    if (assigned[n->id()].empty() && variable_ops.count(n->op())) vars.push_back(n.get());
  std::sort(vars.begin(), vars.end(), [](Node* a, Node* b) {
    int64_t ba = VariableBytes(*a), bb = VariableBytes(*b);
    return ba != bb ? ba > bb : a->name() < b->name();
  });
  std::map<std::string, int64_t> load;
  for (const auto& n : graph->nodes())  // explicitly placed variables count too
    if (!assigned[n->id()].empty() && variable_ops.count(n->op())) load[assigned[n->id()]] += VariableBytes(*n);
  for (Node* v : vars) {
    if (ps.empty()) {
      assigned[v->id()] = default_device;
      continue;
    }
    size_t best = 0;
    for (size_t k = 1; k < ps.size(); ++k)
      if (load[ps[k]] < load[ps[best]]) best = k;
    assigned[v->id()] = ps[best];
    load[ps[best]] += VariableBytes(*v);
  }

  // 3 and 4. Updates go with their variable; the rest to the default device.
  for (const auto& n : graph->nodes()) {
    if (!assigned[n->id()].empty()) continue;
    if (n->def().stateful && n->num_inputs() > 0 && variable_ops.count(n->input(0).node->op()))
      assigned[n->id()] = assigned[n->input(0).node->id()];
    else
      assigned[n->id()] = default_device;
  }
  for (const auto& n : graph->nodes()) n->set_assigned_device(assigned[n->id()]);
  return Status::OK();
}

}  // namespace flowps

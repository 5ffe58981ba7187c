// Placement: a pure graph pass that gives every node an assigned device.
//
// Rules, in order:
//   1. a node's requested device (NodeSpec::device or a DeviceScope) wins; it
//      must name a device of the cluster (a bare task such as "/job:worker/task:1"
//      takes that task's cpu:0, or its first device; a request without job or
//      task, such as "/device:cpu:1" or "/job:worker/device:cpu:1", is
//      completed from the default device: ParseDeviceRequest); otherwise the pass fails
//      with an error naming the node, its op and the device -- unless
//      soft_placement is on: then the node takes the default device. A
//      request for a device that `stand_ins` maps (a GPU that a CPU device
//      replaces on a machine without one) takes the stand-in;
//   2. variables (Variable nodes, grouped by their var_name attribute) without
//      a request are spread over the ps tasks, balanced by size: largest first
//      (ties by name), each to the ps task holding the fewest bytes so far
//      (ties to the lowest task) -- deterministic; a variable requested on two
//      devices is an error;
//   3. a stateful node with a var_name attribute naming a variable (Assign)
//      goes with that variable, so updates run where the value lives;
//   4. everything else goes to the default device (the worker's cpu:0),
//      except that a stateless node without inputs (a Const) whose
//      consumers all sit on one device goes to that device.
// Without ps tasks, variables take the default device too.
// Thread safety: mutates the graph's assigned devices; run it before executing.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"

namespace flowps {

struct PlacementOptions {
  std::vector<std::string> ps_tasks;       // e.g. {"/job:ps/task:0", "/job:ps/task:1"}
  std::vector<std::string> worker_devices; // e.g. {"/job:worker/task:0/device:cpu:0", ...}
  std::string default_device;              // must be one of worker_devices (or the only device)
  std::vector<std::string> variable_ops = {"Variable"};
  // Full device name -> the device that stands in for it.
  std::map<std::string, std::string> stand_ins;
  // A request for a device that does not exist places the node on the
  // default device instead of failing (TensorFlow's allow_soft_placement).
  bool soft_placement = false;
};

// Assigns a device to every node of `graph`. On error no node's assignment is
// changed. With `soft_placed`, appends one line per node that soft placement
// moved ("node 'n' (op Op): /job:.../device:cpu:3 -> /job:.../device:cpu:0").
Status PlaceGraph(Graph* graph, const PlacementOptions& options, std::vector<std::string>* soft_placed = nullptr);

}  // namespace flowps

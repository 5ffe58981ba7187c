// Replica devices: where the nodes of a model-parallel model run on a worker.
//
// A model whose nodes ask for devices (a DeviceScope in C++, fp.device in
// Python, kept through GraphDef) is model-parallel: each worker runs the
// whole model as ONE replica spread over its own devices (the task's
// `devices:` in the cluster spec), instead of one tower per device. Data
// parallelism composes: every worker is such a replica and pushes its
// gradients to the ps as any worker does. A request is read relative to the
// worker running it: "/gpu:1", "/device:cpu:3" and "/job:worker/task:0/cpu:3"
// all name that device of whichever worker runs the replica (the graph is the
// same on every worker). Variables live on the ps whatever they ask for; a
// worker reads them on its first device. Pure functions; thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/cluster_spec.h"
#include "core/status.h"
#include "graph/device_name.h"
#include "graph/graph.h"

namespace flowps {

// True when a node other than a Variable asks for a device.
bool AsksForDevices(const Graph& model);

// The full device `node` asks for on the worker whose first device is `host`
// (its request completed from host, on host's task). InvalidArgument naming
// the node and its op for a malformed request or one naming another job.
// REQUIRES: node.requested_device() is not empty.
StatusOr<std::string> ReplicaDevice(const Node& node, const DeviceName& host);

// Checks that a worker has every device the nodes of `model` ask for:
// `devices` are its full device names, devices[0] its first; a request that
// `stand_ins` maps (gpu:i -> cpu:i) takes the stand-in. InvalidArgument naming
// the worker's task, the first node (and op) whose device it lacks, and the
// devices it has.
Status CheckReplicaDevices(const Graph& model, const std::vector<std::string>& devices,
                           const std::map<std::string, std::string>& stand_ins = {});
// The same for a worker task of the cluster spec, with the devices it declares.
Status CheckReplicaDevices(const Graph& model, const TaskSpec& worker);

}  // namespace flowps

#include "worker/replica_devices.h"

#include <algorithm>

namespace flowps {
namespace {

std::string Where(const Node& n) { return "node '" + n.name() + "' (op " + n.op() + ")"; }

bool PlacedByRequest(const Node& n) { return !n.requested_device().empty() && n.op() != "Variable"; }

}  // namespace

bool AsksForDevices(const Graph& model) {
  return std::any_of(model.nodes().begin(), model.nodes().end(), [](const auto& n) { return PlacedByRequest(*n); });
}

StatusOr<std::string> ReplicaDevice(const Node& node, const DeviceName& host) {
  auto parsed = ParseDeviceRequest(node.requested_device(), host);
  if (!parsed.ok()) return parsed.status().WithContext(Where(node));
  if (parsed->job != host.job)
    return InvalidArgument(Where(node) + " asks for device '" + node.requested_device() + "' of job '" + parsed->job +
                           "': every worker runs the whole model, so a node names a device of its worker "
                           "(\"/gpu:1\", \"/device:cpu:1\"); variables live on the ps whatever they ask for");
  DeviceName device = *parsed;
  device.task = host.task;
  if (!device.has_device) {
    device.has_device = true;
    device.device_type = host.device_type;
    device.device_index = host.device_index;
  }
  return device.ToString();
}

Status CheckReplicaDevices(const Graph& model, const std::vector<std::string>& devices,
                           const std::map<std::string, std::string>& stand_ins) {
  if (devices.empty()) return InvalidArgument("a worker without devices runs no model");
  FLOWPS_ASSIGN_OR_RETURN(DeviceName host, ParseDeviceName(devices[0]));
  for (const auto& n : model.nodes()) {
    if (!PlacedByRequest(*n)) continue;
    FLOWPS_ASSIGN_OR_RETURN(std::string want, ReplicaDevice(*n, host));
    if (auto stand_in = stand_ins.find(want); stand_in != stand_ins.end()) want = stand_in->second;
    if (std::find(devices.begin(), devices.end(), want) != devices.end()) continue;
    std::string have;
    for (const std::string& d : devices) have += (have.empty() ? "" : ", ") + d.substr(d.rfind('/') + 1 + 7);
    return InvalidArgument(Where(*n) + " asks for device '" + n->requested_device() + "', which worker " +
                           host.TaskName() + " lacks (its devices: [" + have +
                           "]); add it to the task's devices in the cluster spec, or set model.soft_placement: true "
                           "to run such nodes on the worker's first device");
  }
  return Status::OK();
}

Status CheckReplicaDevices(const Graph& model, const TaskSpec& worker) {
  return CheckReplicaDevices(model, worker.DeviceNames());
}

}  // namespace flowps

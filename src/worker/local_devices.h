// LocalDevices: the devices a worker's towers run on, opened from its task's
// `devices` in the cluster spec ([cpu:0, cpu:1], [gpu:0, gpu:1], ...; default
// [cpu:0]). GPUs are resolved by device discovery (device/device_discovery.h):
// with no driver, no GPU or no CUDA build, one warning line says why and CPU
// devices stand in (gpu:i -> cpu:i), so training takes the same code path; a
// node of a model-parallel model that asks for gpu:i then runs on cpu:i
// (TowerOptions::stand_ins).
// Owns the devices; `towers` points into them. Move-only; thread-compatible.
#pragma once

#include <memory>
#include <vector>

#include "core/cluster_spec.h"
#include "core/status.h"
#include "graph/device.h"
#include "worker/local_model.h"

namespace spdlog {
class logger;
}

namespace flowps {

class GpuProbe;

struct LocalDevices {
  std::vector<std::unique_ptr<Device>> owned;
  TowerOptions towers;  // one tower per device of the task, in the spec's order
};

// Opens the devices of `task`. InvalidArgument for a malformed or duplicate
// device, or a GPU index beyond those present; an error naming the CUDA call
// when a present GPU cannot be opened.
StatusOr<LocalDevices> OpenLocalDevices(const TaskSpec& task, GpuProbe& probe, spdlog::logger& log);

}  // namespace flowps

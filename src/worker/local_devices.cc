#include "worker/local_devices.h"

#include "device/device_discovery.h"
#include "device/gpu_config.h"
#include "graph/device.h"
#include "graph/device_name.h"

#if FLOWPS_HAVE_CUDA
#include "device/cuda_ops.h"
#include "device/gpu_device.h"
#endif

namespace flowps {

StatusOr<LocalDevices> OpenLocalDevices(const TaskSpec& task, GpuProbe& probe, spdlog::logger& log) {
  FLOWPS_ASSIGN_OR_RETURN(ResolvedDevices resolved, ResolveDevices(task.name(), task.devices, probe, log));
  LocalDevices local;
  for (size_t i = 0; i < resolved.names.size(); ++i) {
    const std::string& name = resolved.names[i];
    if (name != task.DeviceName(i)) local.towers.stand_ins[task.DeviceName(i)] = name;
    FLOWPS_ASSIGN_OR_RETURN(DeviceName parsed, ParseDeviceName(name));
    if (parsed.device_type == "cpu") {
      local.owned.push_back(std::make_unique<CpuDevice>(name));
    } else {
#if FLOWPS_HAVE_CUDA
      FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<GpuDevice> gpu, GpuDevice::Open(parsed.device_index, name));
      local.owned.push_back(std::move(gpu));
      local.towers.register_kernels = RegisterCudaKernels;
#else
      return Internal("device discovery kept GPU '" + name + "' in a build without CUDA");
#endif
    }
    local.towers.devices.push_back(local.owned.back().get());
  }
  return local;
}

}  // namespace flowps

#include "device/device_discovery.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "device/gpu_config.h"
#include "graph/device_name.h"

#if FLOWPS_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "device/gpu_device.h"
#endif

namespace flowps {
namespace {

#if FLOWPS_HAVE_CUDA
class CudaProbe final : public GpuProbe {
 public:
  StatusOr<int> DeviceCount() override {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      cudaGetLastError();  // a failed query leaves a sticky error; clear it
      return CudaStatus(e, "cudaGetDeviceCount");
    }
    return count;
  }
};
#else
class NoCudaProbe final : public GpuProbe {
 public:
  StatusOr<int> DeviceCount() override {
    return FailedPrecondition("flowps was built without CUDA (no nvcc found, or -Dgpu=disabled)");
  }
};
#endif

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

std::unique_ptr<GpuProbe> NewGpuProbe() {
#if FLOWPS_HAVE_CUDA
  return std::make_unique<CudaProbe>();
#else
  return std::make_unique<NoCudaProbe>();
#endif
}

StatusOr<ResolvedDevices> ResolveDevices(const std::string& task, const std::vector<std::string>& requested,
                                         GpuProbe& probe, spdlog::logger& log) {
  if (requested.empty()) return InvalidArgument("no devices requested for " + task);
  std::vector<DeviceName> parsed;
  std::vector<std::string> gpus;
  for (const std::string& r : requested) {
    FLOWPS_ASSIGN_OR_RETURN(DeviceName d, ParseDeviceName(task + "/device:" + r));
    if (std::find(parsed.begin(), parsed.end(), d) != parsed.end())
      return InvalidArgument("device '" + r + "' is requested twice for " + task);
    if (d.device_type == "gpu") gpus.push_back(r);
    parsed.push_back(d);
  }
  ResolvedDevices out;
  if (!gpus.empty()) {
    StatusOr<int> count = probe.DeviceCount();
    if (count.ok() && *count > 0) {
      for (const DeviceName& d : parsed)
        if (d.device_type == "gpu" && d.device_index >= *count)
          return InvalidArgument("device 'gpu:" + std::to_string(d.device_index) + "' of " + task + " does not exist: " +
                                 std::to_string(*count) + " GPU(s) present");
    } else {
      const std::string why = count.ok() ? "the CUDA runtime reports 0 GPUs" : count.status().ToString();
      std::vector<std::string> stand_ins;
      for (DeviceName& d : parsed) {
        if (d.device_type != "gpu") continue;
        d.device_type = "cpu";
        stand_ins.push_back("cpu:" + std::to_string(d.device_index));
      }
      for (size_t i = 0; i < parsed.size(); ++i)
        if (std::count(parsed.begin(), parsed.end(), parsed[i]) > 1)
          return InvalidArgument("no usable GPU for " + task + " and its CPU stand-in " + parsed[i].ToString() +
                                 " is also requested");
      log.warn("no usable GPU ({}): {} runs {} on {} instead", why, task, Join(gpus), Join(stand_ins));
      out.gpu_fallback = true;
    }
  }
  for (const DeviceName& d : parsed) out.names.push_back(d.ToString());
  return out;
}

}  // namespace flowps

// Device discovery: which devices a task's graph runs on. A worker asks for
// devices such as ["gpu:0", "gpu:1"]; when the GPUs are there it gets them,
// and when there is no driver, no GPU or no CUDA build it logs ONE warning
// line saying why and runs the same number of towers on CPU devices instead
// (gpu:i -> cpu:i), so the same code path trains either way.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace spdlog {
class logger;
}

namespace flowps {

// What discovery asks the CUDA runtime; a fake in tests.
class GpuProbe {
 public:
  virtual ~GpuProbe() = default;
  // The number of GPUs, or an error naming the runtime's code and message.
  virtual StatusOr<int> DeviceCount() = 0;
};

// cudaGetDeviceCount with its return code checked (with no driver it fails
// with code 35 and leaves the count untouched). In a build without CUDA, a
// probe that says so.
std::unique_ptr<GpuProbe> NewGpuProbe();

struct ResolvedDevices {
  std::vector<std::string> names;  // full names, one per requested device, in order
  bool gpu_fallback = false;       // GPUs were asked for and CPU devices stand in
};

// Resolves `requested` ("cpu:0", "gpu:1", ...) for `task` ("/job:worker/task:0").
// InvalidArgument for a malformed device, a duplicate, or a GPU index beyond
// the GPUs present. The probe is asked only when a GPU is requested.
StatusOr<ResolvedDevices> ResolveDevices(const std::string& task, const std::vector<std::string>& requested,
                                         GpuProbe& probe, spdlog::logger& log);

}  // namespace flowps

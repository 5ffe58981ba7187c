// Device: one compute device of a task, as the executor and the kernels see
// it ("/job:worker/task:0/device:cpu:0", ".../device:gpu:1"). An executor runs
// one partition on one device and hands the device to every kernel through
// KernelContext::device(); GPU kernels find their stream, allocator and cuBLAS
// handle there (device/gpu_device.h). Implementations are final and say how
// they are shared between threads.
#pragma once

#include <string>

#include "graph/op_registry.h"

namespace flowps {

class Device {
 public:
  virtual ~Device() = default;
  virtual const std::string& name() const = 0;  // the full device name
  virtual DeviceType type() const = 0;
};

// A CPU device: the host's memory and the step's compute pool. Immutable.
class CpuDevice final : public Device {
 public:
  explicit CpuDevice(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  DeviceType type() const override { return DeviceType::kCPU; }

 private:
  std::string name_;
};

}  // namespace flowps

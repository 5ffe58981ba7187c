// DeviceName: the parsed form of a device string.
//
//   /job:ps/task:0                       a task (variables live on ps tasks)
//   /job:worker/task:1/device:cpu:0      one device of a task
//   /job:worker/task:1/device:gpu:1
//
// Parsing is strict: every part is checked and an error names the string and
// the part that is wrong. A value type; thread-compatible.
#pragma once

#include <string>

#include "core/status.h"

namespace flowps {

struct DeviceName {
  std::string job;           // "ps", "worker", ...: [a-z][a-z0-9_]*
  int task = 0;              // >= 0
  bool has_device = false;   // false for a bare task ("/job:ps/task:0")
  std::string device_type;   // "cpu" or "gpu" when has_device
  int device_index = 0;      // >= 0 when has_device

  // The canonical string, e.g. "/job:worker/task:1/device:cpu:0".
  std::string ToString() const;
  // The task part only, e.g. "/job:worker/task:1".
  std::string TaskName() const;
  bool operator==(const DeviceName&) const = default;
};

// Parses a device string; InvalidArgument naming the string and the bad part.
StatusOr<DeviceName> ParseDeviceName(const std::string& name);

// Parses a device a node requests, which may leave out its job and task, as
// TensorFlow allows ("/device:cpu:1", "/job:worker/device:cpu:1"), completing
// it from `base` (the device the node would run on by default): a missing job
// is base's job; a missing task is base's task when the job is base's, else
// task 0. TensorFlow's short form names the device without "device:"
// ("/gpu:1", "/job:worker/cpu:0"). A full name parses as ParseDeviceName does.
StatusOr<DeviceName> ParseDeviceRequest(const std::string& request, const DeviceName& base);

}  // namespace flowps

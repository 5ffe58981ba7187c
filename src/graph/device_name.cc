#include "graph/device_name.h"

#include <cctype>
#include <charconv>
#include <vector>

namespace flowps {
namespace {

std::vector<std::string> SplitSlashes(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 1;  // after the leading '/'
  for (;;) {
    size_t slash = s.find('/', start);
    parts.push_back(s.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) return parts;
    start = slash + 1;
  }
}

bool ParseIndex(const std::string& text, int* out) {
  if (text.empty() || text.size() > 9) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  for (char c : text)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool ValidJobName(const std::string& job) {
  if (job.empty() || !std::islower(static_cast<unsigned char>(job[0]))) return false;
  for (char c : job)
    if (!std::islower(static_cast<unsigned char>(c)) && !std::isdigit(static_cast<unsigned char>(c)) && c != '_')
      return false;
  return true;
}

// "cpu:N" or "gpu:N": a device written without "device:", as TensorFlow allows.
bool IsShortDevice(const std::string& part) {
  return part.rfind("cpu:", 0) == 0 || part.rfind("gpu:", 0) == 0;
}

}  // namespace

std::string DeviceName::TaskName() const { return "/job:" + job + "/task:" + std::to_string(task); }

std::string DeviceName::ToString() const {
  if (!has_device) return TaskName();
  return TaskName() + "/device:" + device_type + ":" + std::to_string(device_index);
}

StatusOr<DeviceName> ParseDeviceName(const std::string& name) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("bad device name '" + name + "': " + why +
                           " (expected /job:NAME/task:K or /job:NAME/task:K/device:cpu|gpu:I)");
  };
  if (name.empty() || name[0] != '/') return bad("it must start with '/'");
  std::vector<std::string> parts = SplitSlashes(name);
  if (parts.size() != 2 && parts.size() != 3) return bad("it must have 2 or 3 parts");
  DeviceName d;
  if (parts[0].rfind("job:", 0) != 0) return bad("the first part must be job:NAME");
  d.job = parts[0].substr(4);
  if (!ValidJobName(d.job)) return bad("job name '" + d.job + "' must match [a-z][a-z0-9_]*");
  if (parts[1].rfind("task:", 0) != 0) return bad("the second part must be task:K");
  if (!ParseIndex(parts[1].substr(5), &d.task)) return bad("task index '" + parts[1].substr(5) + "' is not a number");
  if (parts.size() == 3) {
    const std::string& dev = parts[2];
    if (dev.rfind("device:", 0) != 0) return bad("the third part must be device:TYPE:I");
    std::string rest = dev.substr(7);
    size_t colon = rest.find(':');
    if (colon == std::string::npos) return bad("device '" + rest + "' lacks ':INDEX'");
    d.has_device = true;
    d.device_type = rest.substr(0, colon);
    if (d.device_type != "cpu" && d.device_type != "gpu")
      return bad("device type '" + d.device_type + "' must be cpu or gpu");
    if (!ParseIndex(rest.substr(colon + 1), &d.device_index))
      return bad("device index '" + rest.substr(colon + 1) + "' is not a number");
  }
  return d;
}

StatusOr<DeviceName> ParseDeviceRequest(const std::string& request, const DeviceName& base) {
  if (request.empty() || request[0] != '/') return ParseDeviceName(request);
  std::vector<std::string> parts = SplitSlashes(request);
  std::string job, task, device;
  for (const std::string& p : parts) {
    if (p.rfind("job:", 0) == 0 && job.empty() && task.empty() && device.empty()) job = p;
    else if (p.rfind("task:", 0) == 0 && task.empty() && device.empty()) task = p;
    else if (p.rfind("device:", 0) == 0 && device.empty()) device = p;
    else if (IsShortDevice(p) && device.empty()) device = "device:" + p;  // TensorFlow's "/gpu:1"
    else return ParseDeviceName(request);  // says what is wrong
  }
  if (job.empty()) job = "job:" + base.job;
  if (task.empty()) task = "task:" + std::to_string(job == "job:" + base.job ? base.task : 0);
  auto full = ParseDeviceName("/" + job + "/" + task + (device.empty() ? "" : "/" + device));
  if (!full.ok()) return InvalidArgument("device request '" + request + "': " + full.status().message());
  return full;
}

}  // namespace flowps

#include "graph/device_spans.h"

#include <algorithm>
#include <map>

namespace flowps {
namespace {

bool IsTransfer(const std::string& op) { return op == "Send" || op == "Recv"; }

// Seconds during which at least `min_devices` devices had a kernel running:
// a sweep over the starts and ends, counting running kernels per device.
double SecondsWithDevicesBusy(const std::vector<DeviceSpans::Span>& spans, size_t min_devices) {
  struct Edge {
    NodeObserver::Clock::time_point at;
    int delta;
    const std::string* device;
  };
  std::vector<Edge> edges;
  for (const auto& s : spans) {
    if (IsTransfer(s.op) || s.end <= s.start) continue;
    edges.push_back({s.start, +1, &s.device});
    edges.push_back({s.end, -1, &s.device});
  }
  std::sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) {
    return a.at != b.at ? a.at < b.at : a.delta < b.delta;  // ends first at a tie
  });
  std::map<std::string, int> running;
  size_t busy_devices = 0;
  double seconds = 0;
  for (size_t i = 0; i < edges.size(); ++i) {
    int& n = running[*edges[i].device];
    if (n == 0 && edges[i].delta > 0) ++busy_devices;
    n += edges[i].delta;
    if (n == 0 && edges[i].delta < 0) --busy_devices;
    if (busy_devices >= min_devices && i + 1 < edges.size())
      seconds += std::chrono::duration<double>(edges[i + 1].at - edges[i].at).count();
  }
  return seconds;
}

}  // namespace

void DeviceSpans::NodeRan(const Node& node, Clock::time_point start, Clock::time_point end) {
  Span span{node.assigned_device(), node.name(), node.op(), start, end};
  std::lock_guard<std::mutex> lock(mu_);
  spans_.push_back(std::move(span));
}

std::vector<DeviceSpans::Span> DeviceSpans::spans() const {
  std::lock_guard<std::mutex> lock(mu_);
  return spans_;
}

void DeviceSpans::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  spans_.clear();
}

double DeviceSpans::OverlapSeconds() const { return SecondsWithDevicesBusy(spans(), 2); }
double DeviceSpans::BusySeconds() const { return SecondsWithDevicesBusy(spans(), 1); }

}  // namespace flowps

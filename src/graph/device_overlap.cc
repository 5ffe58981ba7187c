#include "graph/device_overlap.h"

#include <algorithm>
#include <map>
#include <vector>

namespace flowps {

std::string TrackDevice(const std::string& track) {
  for (const std::string suffix : {" async", " #"}) {
    size_t at = track.rfind(suffix);
    if (at != std::string::npos) return track.substr(0, at);
  }
  return track;
}

DeviceOverlap MeasureDeviceOverlap(const TaskTrace& trace) {
  struct Edge {
    int64_t at_ns;
    int delta;
    std::string device;
  };
  std::vector<Edge> edges;
  for (const TraceSpan& s : trace.spans) {
    if (s.category != "node" || s.detail == "Send" || s.detail == "Recv" || s.end_ns <= s.start_ns) continue;
    if (s.track < 0 || static_cast<size_t>(s.track) >= trace.tracks.size()) continue;
    std::string device = TrackDevice(trace.tracks[static_cast<size_t>(s.track)]);
    edges.push_back({s.start_ns, +1, device});
    edges.push_back({s.end_ns, -1, std::move(device)});
  }
  std::sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) {
    return a.at_ns != b.at_ns ? a.at_ns < b.at_ns : a.delta < b.delta;  // ends first at a tie
  });
  // A sweep: kernels running per device, and how many devices have one.
  std::map<std::string, int> running;
  size_t busy_devices = 0;
  DeviceOverlap out;
  for (size_t i = 0; i < edges.size(); ++i) {
    int& n = running[edges[i].device];
    if (n == 0 && edges[i].delta > 0) ++busy_devices;
    n += edges[i].delta;
    if (n == 0 && edges[i].delta < 0) --busy_devices;
    if (i + 1 == edges.size()) break;
    const double gap = static_cast<double>(edges[i + 1].at_ns - edges[i].at_ns) * 1e-9;
    if (busy_devices >= 1) out.busy_seconds += gap;
    if (busy_devices >= 2) out.overlap_seconds += gap;
  }
  out.devices = static_cast<int>(running.size());
  return out;
}

}  // namespace flowps

#include "cli/cluster_health.h"

#include <cstdio>
#include <memory>

#include "core/json_line.h"

namespace flowps {

std::vector<TaskReport> CheckHealth(kj::AsyncIoContext& io, const ClusterSpec& spec,
                                    const std::vector<TaskSpec>& tasks, std::chrono::milliseconds timeout) {
  std::vector<TaskReport> reports(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) reports[i].task = tasks[i];
  CallEach(io, spec, tasks, timeout, [&reports](size_t i, RpcClient& client) {
    TaskReport* report = &reports[i];
    return client.Health().then([report](TaskHealth h) { report->health = std::move(h); },
                                [report](kj::Exception&& e) { report->status = StatusFromException(e, ""); });
  });
  return reports;
}

bool AllHealthy(const std::vector<TaskReport>& reports) {
  for (const auto& r : reports)
    if (!r.status.ok()) return false;
  return true;
}

std::string FormatHealthTable(const std::vector<TaskReport>& reports) {
  std::string out;
  for (const auto& r : reports) {
    char line[512];
    if (r.status.ok())
      std::snprintf(line, sizeof line, "%-22s %-21s healthy  pid %-7u up %.1fs\n", r.task.name().c_str(),
                    r.task.address().c_str(), r.health.pid, r.health.uptime_seconds);
    else
      std::snprintf(line, sizeof line, "%-22s %-21s DOWN     %s\n", r.task.name().c_str(), r.task.address().c_str(),
                    r.status.ToString().c_str());
    out += line;
  }
  return out;
}

std::string FormatHealthJson(const std::vector<TaskReport>& reports) {
  std::string tasks;
  for (const auto& r : reports) {
    JsonLine j;
    j.Add("task", r.task.name()).Add("address", r.task.address()).Add("healthy", r.status.ok());
    if (r.status.ok())
      j.Add("pid", static_cast<int64_t>(r.health.pid)).Add("uptime_s", r.health.uptime_seconds);
    else
      j.Add("error", r.status.ToString());
    tasks += (tasks.empty() ? "" : ",") + j.str();
  }
  return JsonLine().Add("healthy", AllHealthy(reports)).AddRaw("tasks", "[" + tasks + "]").str();
}

}  // namespace flowps

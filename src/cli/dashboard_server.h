// DashboardServer: the chief's live dashboard, http://host:dashboard_port/.
// A page (cli/dashboard_page.h, compiled into the binary: nothing is fetched
// from the internet) draws the job's loss and test-accuracy curves and
// tables of per-worker rate, step time and staleness and per-shard load and
// memory, from /api/state, which it polls every second.
//
// A sampler thread of its own (with its own KJ event loop) asks every worker
// and ps shard for its status once per interval, as `flowps top` does
// (cli/top_view.h), and keeps the curves of the current job (a new job id
// starts them again). HTTP is served by civetweb threads; the state is
// guarded by one mutex, never held across a call to a task.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/cluster_spec.h"
#include "core/status.h"

namespace flowps {

class DashboardServer {
 public:
  // Serves on host:port (0: any free port). Unavailable, naming the address,
  // when it cannot listen.
  static StatusOr<std::unique_ptr<DashboardServer>> Start(ClusterSpec spec, const std::string& host, int port,
                                                          std::chrono::milliseconds interval = std::chrono::seconds(1));
  ~DashboardServer();  // stops the sampler and the server
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  struct State;

 private:
  DashboardServer() = default;
  std::unique_ptr<State> state_;
};

}  // namespace flowps

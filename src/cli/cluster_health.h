// Health of a cluster's tasks, asked over RPC (for `flowps status` and
// `flowps launch`). Runs on the calling thread's KJ event loop.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <kj/async-io.h>

#include "core/cluster_spec.h"
#include "core/status.h"
#include "net/rpc_client.h"

namespace flowps {

struct TaskReport {
  TaskSpec task;
  Status status;      // OK when the task answered its health call
  TaskHealth health;  // valid when status is OK
};

// Asks every task of `tasks` for its health in parallel; each answer is
// bounded by `timeout` (connect + login + call).
std::vector<TaskReport> CheckHealth(kj::AsyncIoContext& io, const ClusterSpec& spec,
                                    const std::vector<TaskSpec>& tasks, std::chrono::milliseconds timeout);

// One line per task: name, address, "healthy pid N up Ns" or the reason it is not.
std::string FormatHealthTable(const std::vector<TaskReport>& reports);
// {"healthy":bool,"tasks":[{"task":..,"address":..,"healthy":..,"pid":..,"uptime_s":..,"error":..}]}
std::string FormatHealthJson(const std::vector<TaskReport>& reports);
bool AllHealthy(const std::vector<TaskReport>& reports);

}  // namespace flowps

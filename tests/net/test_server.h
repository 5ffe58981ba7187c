// A task served in-process for the net tests: a thread pool, a log hub, an
// RpcServer on 127.0.0.1 with a free port, and an "echo" service.
#pragma once

#include <memory>
#include <string>

#include "core/logging.h"
#include "core/thread_pool.h"
#include "net/rpc_client.h"
#include "net/rpc_server.h"

namespace flowps::test {

constexpr const char* kToken = "s3cret-cluster-token";

struct TestTask {
  explicit TestTask(const std::string& task_name, size_t backlog_lines = 256,
                    const std::string& bind_address = "127.0.0.1:0", ConnectionLimits limits = {});
  ~TestTask();

  std::unique_ptr<ThreadPool> pool;
  LogHub hub;
  std::shared_ptr<spdlog::logger> logger;  // "net", to the hub only
  std::unique_ptr<RpcServer> server;
};

// Options for a client of `server` with `token` and generous deadlines.
RpcClientOptions ClientFor(const RpcServer& server, std::string token = kToken);

// Logs one info line through `task`'s logger.
void LogInfo(TestTask& task, const std::string& message);

}  // namespace flowps::test

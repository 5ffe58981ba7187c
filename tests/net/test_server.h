// A task served in-process for the net tests: a thread pool, a log hub, an
// RpcServer on 127.0.0.1 with a free port, and an "echo" service.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/logging.h"
#include "core/thread_pool.h"
#include "net/rpc_client.h"
#include "net/rpc_server.h"

namespace flowps::test {

constexpr const char* kToken = "s3cret-cluster-token";

struct TestTask {
  explicit TestTask(const std::string& task_name, size_t backlog_lines = 256,
                    const std::string& bind_address = "127.0.0.1:0", ConnectionLimits limits = {},
                    std::optional<TlsSettings> tls = std::nullopt);
  ~TestTask();

  std::unique_ptr<ThreadPool> pool;
  LogHub hub;
  std::shared_ptr<spdlog::logger> logger;  // "net", to the hub only
  std::unique_ptr<RpcServer> server;
};

// Options for a client of `server` with `token` and generous deadlines.
RpcClientOptions ClientFor(const RpcServer& server, std::string token = kToken);

// A raw TCP connection to 127.0.0.1:port; -1 if it could not connect.
int RawConnect(int port);
// Whether the server closed `fd` within `limit` (reads until EOF or an error).
bool ClosedWithin(int fd, std::chrono::milliseconds limit);
// How many lines of `hub`'s backlog contain `text`.
int CountLines(const LogHub& hub, const std::string& text);

// Logs one info line through `task`'s logger.
void LogInfo(TestTask& task, const std::string& message);

}  // namespace flowps::test

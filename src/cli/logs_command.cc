#include "cli/logs_command.h"

#include <signal.h>

#include <CLI/CLI.hpp>
#include <kj/async-unix.h>

#include <ctime>
#include <iostream>
#include <memory>

#include "core/cluster_spec.h"
#include "net/log_stream.h"
#include "net/rpc_client.h"

namespace flowps {
namespace {

struct LogsOptions {
  std::string cluster;
  bool follow = false;
  int timeout_ms = 3000;
};

// "2026-11-22 00:01:02.123 /job:ps/task:0 info [net] message" (UTC).
std::string FormatLine(const LogRecord& r) {
  time_t seconds = static_cast<time_t>(r.time_ns / 1000000000);
  int millis = static_cast<int>((r.time_ns / 1000000) % 1000);
  struct tm tm;
  gmtime_r(&seconds, &tm);
  char stamp[40];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return std::string(stamp) + " " + r.task + " " + r.level + " [" + r.logger + "] " + r.message;
}

int RunLogs(const LogsOptions& o) {
  auto spec = LoadClusterSpec(o.cluster);
  if (!spec.ok()) {
    std::cerr << "flowps logs: " << spec.status().message() << "\n";
    return 2;
  }
  if (o.follow) {
    kj::UnixEventPort::captureSignal(SIGINT);
    kj::UnixEventPort::captureSignal(SIGTERM);
  }
  auto io = kj::setupAsyncIo();
  std::vector<std::unique_ptr<RpcClient>> clients;
  std::vector<RpcClient*> raw;
  for (const TaskSpec& t : spec->AllTasks()) {
    const std::chrono::milliseconds timeout(o.timeout_ms);
    clients.push_back(std::make_unique<RpcClient>(io, ClientOptionsFor(*spec, t, timeout, timeout)));
    raw.push_back(clients.back().get());
  }
  // Stops following when stdout is gone (e.g. `flowps logs -f | head`).
  auto output_closed = kj::newPromiseAndFulfiller<void>();
  LogFollowerCallbacks callbacks;
  callbacks.on_line = [&output_closed](const LogRecord& r) {
    if (!(std::cout << FormatLine(r) << std::endl) && output_closed.fulfiller->isWaiting())
      output_closed.fulfiller->fulfill();
  };
  callbacks.on_dropped = [](const std::string& task, uint64_t n) {
    std::cerr << "flowps logs: " << task << " dropped " << n << " lines this reader was too slow for\n";
  };
  callbacks.on_error = [follow = o.follow](const std::string& address, const Status& why) {
    std::cerr << "flowps logs: no log stream from " << address << ": " << why.ToString()
              << (follow ? " (trying again every second)" : "") << "\n";
  };
  callbacks.on_resumed = [](const std::string& address) {
    std::cerr << "flowps logs: the log stream from " << address << " is back\n";
  };
  LogFollower follower(raw, callbacks);
  size_t reached = follower.Start(o.follow).wait(io.waitScope);
  if (reached == 0) return 1;
  if (o.follow) {
    io.unixEventPort.onSignal(SIGINT)
        .exclusiveJoin(io.unixEventPort.onSignal(SIGTERM))
        .ignoreResult()
        .exclusiveJoin(kj::mv(output_closed.promise))
        .wait(io.waitScope);
  }
  return 0;
}

}  // namespace

void AddLogsCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<LogsOptions>();
  CLI::App* cmd = app.add_subcommand("logs", "the merged log stream of every task");
  cmd->add_option("--cluster", o->cluster, "cluster spec (YAML)")->required();
  cmd->add_flag("-f,--follow", o->follow, "keep printing new lines until Ctrl-C");
  cmd->add_option("--timeout-ms", o->timeout_ms, "deadline to reach each task")->check(CLI::PositiveNumber);
  cmd->callback([o, exit_code]() { *exit_code = RunLogs(*o); });
}

}  // namespace flowps

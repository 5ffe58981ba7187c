#include "cli/health_command.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "cli/cluster_health.h"

namespace flowps {
namespace {

struct HealthOptions {
  std::string address;
  std::string token_file;
  int timeout_ms = 2000;
};

int RunHealth(const HealthOptions& o) {
  TaskSpec task;
  task.job = "task";
  Status address = SplitAddress(o.address, &task.host, &task.port);
  if (!address.ok()) {
    std::cerr << "flowps health: --address: " << address.message() << "\n";
    return 2;
  }
  auto token = ReadTokenFile(o.token_file);
  if (!token.ok()) {
    std::cerr << "flowps health: --token-file: " << token.status().message() << "\n";
    return 2;
  }
  ClusterSpec spec;
  spec.token = *token;
  auto io = kj::setupAsyncIo();
  auto reports = CheckHealth(io, spec, {task}, std::chrono::milliseconds(o.timeout_ms));
  const TaskReport& r = reports.front();
  if (!r.status.ok()) {
    std::cout << o.address << " DOWN " << r.status.ToString() << "\n";
    return 1;
  }
  std::cout << o.address << " healthy " << r.health.task << " pid " << r.health.pid << " up "
            << r.health.uptime_seconds << "s\n";
  return 0;
}

}  // namespace

void AddHealthCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<HealthOptions>();
  CLI::App* cmd = app.add_subcommand("health", "health of one task (a readiness/liveness probe)");
  cmd->add_option("--address", o->address, "the task's host:port")->required();
  cmd->add_option("--token-file", o->token_file, "file holding the cluster token")->required();
  cmd->add_option("--timeout-ms", o->timeout_ms, "deadline for connect, login and the call")
      ->check(CLI::PositiveNumber);
  cmd->callback([o, exit_code]() { *exit_code = RunHealth(*o); });
}

}  // namespace flowps

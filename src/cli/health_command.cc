#include "cli/health_command.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <memory>

#include "cli/cluster_health.h"

namespace flowps {
namespace {

struct HealthOptions {
  std::string address;
  std::string token_file;
  TlsFiles tls;  // all three files given: dial over mutual TLS
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
  const TlsFiles& f = o.tls;
  if (!f.cert.empty() || !f.key.empty() || !f.ca.empty() || !f.server_name.empty()) {
    std::string bad_key;
    auto tls = LoadTlsSettings(f, &bad_key);
    if (!tls.ok()) {
      std::replace(bad_key.begin(), bad_key.end(), '_', '-');
      std::cerr << "flowps health: --tls-" << bad_key << ": " << tls.status().message() << "\n";
      return 2;
    }
    spec.tls = *std::move(tls);
  }
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
  cmd->add_option("--tls-cert", o->tls.cert, "with --tls-key and --tls-ca: dial over mutual TLS with this certificate");
  cmd->add_option("--tls-key", o->tls.key, "the certificate's private key (PEM)");
  cmd->add_option("--tls-ca", o->tls.ca, "the cluster CA (PEM): the task's certificate must be signed by it");
  cmd->add_option("--tls-server-name", o->tls.server_name,
                  "the name the task's certificate must list (default: the host of --address)");
  cmd->add_option("--timeout-ms", o->timeout_ms, "deadline for connect, login and the call")
      ->check(CLI::PositiveNumber);
  cmd->callback([o, exit_code]() { *exit_code = RunHealth(*o); });
}

}  // namespace flowps

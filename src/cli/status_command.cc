#include "cli/status_command.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "cli/cluster_health.h"
#include "cli/shard_report.h"
#include "cli/table_report.h"
#include "worker/job_client.h"
#include "core/json_line.h"

namespace flowps {
namespace {

struct StatusOptions {
  std::string cluster;
  bool json = false;
  int timeout_ms = 2000;
};

int RunStatus(const StatusOptions& o) {
  auto spec = LoadClusterSpec(o.cluster);
  if (!spec.ok()) {
    std::cerr << "flowps status: " << spec.status().message() << "\n";
    return 2;
  }
  auto io = kj::setupAsyncIo();
  auto reports = CheckHealth(io, *spec, spec->AllTasks(), std::chrono::milliseconds(o.timeout_ms));
  auto workers = QueryWorkers(io, *spec, std::chrono::milliseconds(o.timeout_ms));
  auto shards = QueryShards(io, *spec, std::chrono::milliseconds(o.timeout_ms));
  if (o.json) {
    std::string health = FormatHealthJson(reports);
    // The health object with the job and the shards added as more keys.
    std::cout << health.substr(0, health.size() - 1) << ",\"job\":" << FormatJobJson(*spec, workers)
              << ",\"shards\":" << FormatShardJson(shards) << ",\"tables\":" << FormatTableJson(SumTables(shards))
              << "}\n";
  } else {
    std::cout << FormatHealthTable(reports);
    size_t healthy = 0;
    for (const auto& r : reports) healthy += r.status.ok();
    std::cout << healthy << " of " << reports.size() << " tasks healthy\n";
    std::cout << FormatJobTable(*spec, workers);
    std::cout << "ps shards:\n" << FormatShardTable(shards);
    std::cout << FormatTableTable(SumTables(shards));
  }
  return AllHealthy(reports) ? 0 : 1;
}

}  // namespace

void AddStatusCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<StatusOptions>();
  CLI::App* cmd = app.add_subcommand("status", "health of every task of a cluster, and its job");
  cmd->add_option("--cluster", o->cluster, "cluster spec (YAML)")->required();
  cmd->add_flag("--json", o->json, "one JSON object instead of a table");
  cmd->add_option("--timeout-ms", o->timeout_ms, "deadline for each task's answer")->check(CLI::PositiveNumber);
  cmd->callback([o, exit_code]() { *exit_code = RunStatus(*o); });
}

}  // namespace flowps

#include "cli/shard_report.h"

#include <fmt/format.h>

#include <memory>

#include "core/json_line.h"
#include "net/ps.capnp.h"
#include "net/rpc_client.h"
#include "net/rpc_common.h"

namespace flowps {

std::vector<ShardReport> QueryShards(kj::AsyncIoContext& io, const ClusterSpec& spec,
                                     std::chrono::milliseconds timeout) {
  std::vector<ShardReport> reports(spec.ps.size());
  for (size_t i = 0; i < spec.ps.size(); ++i) reports[i].task = spec.ps[i];
  CallEach(io, spec, spec.ps, timeout, [&reports](size_t i, RpcClient& client) {
    RpcClient* c = &client;
    ShardReport* report = &reports[i];
    return c->GetService("ps")
        .then([c](capnp::Capability::Client cap) {
          return c->Call(cap.castAs<wire::ParameterServer>().statsRequest().send(), "stats");
        })
        .then(
            [report](capnp::Response<wire::ParameterServer::StatsResults> r) {
              StatusOr<ShardStats> stats = ReadShardStats(r.getStats());
              if (stats.ok()) {
                report->stats = std::move(stats).value();
              } else {
                report->status = stats.status();
              }
            },
            [report](kj::Exception&& e) {
              // The ps fails a call with KJ_EXCEPTION(FAILED, st.ToString()): keep the Status's text.
              const Status st = StatusFromException(e, "");
              const std::string quoted = "st.ToString() = ";
              const std::string& m = st.message();
              report->status = m.rfind(quoted, 0) == 0 ? Status(st.code(), m.substr(quoted.size())) : st;
            });
  });
  return reports;
}

std::string FormatBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

std::string FormatShardTable(const std::vector<ShardReport>& reports) {
  std::string out;
  for (const ShardReport& r : reports) {
    if (!r.status.ok()) {
      out += fmt::format("  {:<22} {}\n", r.task.name(), r.status.message());
      continue;
    }
    const ShardStats& s = r.stats;
    out += fmt::format(
        "  {:<22} step {:<6} pushes applied {} accepted {} stale {} duplicate {} refused {}  waiting {}  "
        "{} variables ({} rows, {})  RSS {}\n",
        r.task.name(), s.global_step, s.applied_updates, s.pushes_accepted(), s.stale_dropped, s.duplicates,
        s.refused, s.waiting, s.variables, s.rows, FormatBytes(static_cast<double>(s.bytes)),
        FormatBytes(static_cast<double>(s.resident_bytes)));
  }
  return out;
}

std::string FormatShardJson(const std::vector<ShardReport>& reports) {
  std::string out;
  for (const ShardReport& r : reports) {
    JsonLine j;
    j.Add("task", r.task.name()).Add("reachable", r.status.ok());
    if (!r.status.ok()) {
      j.Add("error", r.status.message());
    } else {
      const ShardStats& s = r.stats;
      JsonLine pushes;
      pushes.Add("applied", s.applied_updates)
          .Add("accepted", s.pushes_accepted())
          .Add("stale", s.stale_dropped)
          .Add("duplicate", s.duplicates)
          .Add("refused", s.refused);
      j.Add("global_step", s.global_step)
          .AddRaw("pushes", pushes.str())
          .Add("waiting_workers", s.waiting)
          .Add("variables", static_cast<int64_t>(s.variables))
          .Add("rows", s.rows)
          .Add("variable_bytes", static_cast<int64_t>(s.bytes))
          .Add("received_bytes", static_cast<int64_t>(s.received_bytes))
          .Add("sent_bytes", static_cast<int64_t>(s.sent_bytes))
          .Add("resident_bytes", s.resident_bytes)
          .Add("apply_seconds_mean",
               s.apply_seconds.count() > 0 ? s.apply_seconds.sum / static_cast<double>(s.apply_seconds.count()) : 0.0)
          .Add("checkpoints", s.checkpoints_written)
          .Add("table_lookup_calls", s.table_lookup_calls)
          .Add("table_reads_with_push", s.table_reads_with_push);
    }
    out += (out.empty() ? "" : ",") + j.str();
  }
  return "[" + out + "]";
}

}  // namespace flowps

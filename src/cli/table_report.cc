#include "cli/table_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "core/json_line.h"

namespace flowps {

std::vector<TableReport> SumTables(const std::vector<ShardReport>& shards) {
  std::map<std::string, TableReport> by_name;
  for (const ShardReport& r : shards) {
    if (!r.status.ok()) continue;
    for (const TableShardStats& t : r.stats.tables) {
      TableReport& out = by_name[t.name];
      out.name = t.name;
      out.dim = t.dim;
      out.rows += t.rows;
      out.admitted += t.admitted;
      out.evicted += t.evicted();
      out.lookups += t.lookups;
      out.pending_lookups += t.pending_lookups;
      out.updates += t.updates;
      out.dropped_updates += t.dropped_updates;
      out.row_bytes += t.row_bytes;
      out.memory_bytes += t.memory_bytes;
      ++out.shards;
      out.hot_keys.insert(out.hot_keys.end(), t.hot_keys.begin(), t.hot_keys.end());
    }
  }
  std::vector<TableReport> tables;
  for (auto& [name, t] : by_name) {
    std::stable_sort(t.hot_keys.begin(), t.hot_keys.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    if (t.hot_keys.size() > 10) t.hot_keys.resize(10);
    tables.push_back(std::move(t));
  }
  return tables;
}

std::string FormatTableTable(const std::vector<TableReport>& tables) {
  if (tables.empty()) return "";
  std::string out = "embedding tables:\n";
  for (const TableReport& t : tables) {
    out += fmt::format("  {:<12} dim {:<4} rows {:<10} admitted {:<10} evicted {:<8} lookups {} (pending {})  "
                       "updates {} (dropped {})  {} ({} of rows and slots) on {} shard(s)\n",
                       t.name, t.dim, t.rows, t.admitted, t.evicted, t.lookups, t.pending_lookups, t.updates,
                       t.dropped_updates, FormatBytes(static_cast<double>(t.memory_bytes)),
                       FormatBytes(static_cast<double>(t.row_bytes)), t.shards);
    std::string hot;
    for (const auto& [key, lookups] : t.hot_keys) hot += fmt::format(" {}:{}", key, lookups);
    out += "    hot keys (key:lookups this window):" + (hot.empty() ? std::string(" -") : hot) + "\n";
  }
  return out;
}

std::string FormatTableJson(const std::vector<TableReport>& tables) {
  std::string out;
  for (const TableReport& t : tables) {
    std::string hot;
    for (const auto& [key, lookups] : t.hot_keys) {
      JsonLine h;
      h.Add("key", key).Add("lookups", lookups);
      hot += (hot.empty() ? "" : ",") + h.str();
    }
    JsonLine j;
    j.Add("table", t.name)
        .Add("dim", t.dim)
        .Add("rows", t.rows)
        .Add("admitted", t.admitted)
        .Add("evicted", t.evicted)
        .Add("lookups", t.lookups)
        .Add("pending_lookups", t.pending_lookups)
        .Add("updates", t.updates)
        .Add("dropped_updates", t.dropped_updates)
        .Add("row_bytes", t.row_bytes)
        .Add("memory_bytes", t.memory_bytes)
        .Add("shards", static_cast<int64_t>(t.shards))
        .AddRaw("hot_keys", "[" + hot + "]");
    out += (out.empty() ? "" : ",") + j.str();
  }
  return "[" + out + "]";
}

}  // namespace flowps

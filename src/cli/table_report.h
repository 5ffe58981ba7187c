// The embedding tables of a job as `flowps status` shows them: each table's
// rows, admissions, evictions, lookups and memory summed over the ps shards
// that answered, and its hot keys (the 10 looked up most in the current
// window; a key lives on one shard, so the shards' lists merge).
#pragma once

#include <string>
#include <vector>

#include "cli/shard_report.h"

namespace flowps {

struct TableReport {
  std::string name;
  int64_t dim = 0, rows = 0, admitted = 0, evicted = 0, lookups = 0, pending_lookups = 0, updates = 0,
          dropped_updates = 0, row_bytes = 0, memory_bytes = 0;
  int shards = 0;                                     // shards that reported it
  std::vector<std::pair<int64_t, int64_t>> hot_keys;  // (key, lookups), most first, at most 10
};

// The tables of the shards' reports, by name.
std::vector<TableReport> SumTables(const std::vector<ShardReport>& shards);

// "embedding tables:" and one line per table plus its hot keys; "" without tables.
std::string FormatTableTable(const std::vector<TableReport>& tables);
// [{"table":..,"dim":..,"rows":..,"admitted":..,"evicted":..,"lookups":..,"pending_lookups":..,"updates":..,
//   "dropped_updates":..,"row_bytes":..,"memory_bytes":..,"shards":..,"hot_keys":[{"key":..,"lookups":..}]}, ...]
std::string FormatTableJson(const std::vector<TableReport>& tables);

}  // namespace flowps

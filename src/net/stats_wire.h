// What tasks tell of themselves on the wire: a Histogram (any task), and
// ShardStats: what one ps shard tells of itself -- its step, variables, pushes
// by outcome, traffic, memory, apply latency and checkpoints -- as the ps
// service's stats call carries it (net/schema/ps.capnp ShardStats). The ps
// fills it (ps/shard_monitor.h); `flowps status`, `flowps top` and /metrics read it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/histogram.h"
#include "core/status.h"
#include "core/train_config.h"
#include "net/ps.capnp.h"

namespace flowps {

// One embedding table's part on one ps shard (ps/embedding_table.h's stats).
struct TableShardStats {
  std::string name;
  int64_t dim = 0, rows = 0, admitted = 0, lookups = 0, pending_lookups = 0, updates = 0, dropped_updates = 0;
  int64_t evicted_ttl = 0, evicted_capacity = 0;
  int64_t row_bytes = 0, memory_bytes = 0;
  std::vector<std::pair<int64_t, int64_t>> hot_keys;  // (key, lookups in the current window), most first

  int64_t evicted() const { return evicted_ttl + evicted_capacity; }
};

struct ShardStats {
  TrainingMode mode = TrainingMode::kSync;
  int64_t global_step = 0;
  uint32_t variables = 0;  // parts held
  int64_t rows = 0;        // rows of those parts
  uint64_t bytes = 0;      // values of those parts
  // The update rule's counters. By push outcome: applied = applied_updates
  // (sync: the push that completed a step), accepted = accepted -
  // applied_updates (sync: counted towards a step another push completed),
  // stale = stale_dropped, duplicate = duplicates, refused = refused.
  int64_t accepted = 0, applied_updates = 0, stale_dropped = 0, duplicates = 0, refused = 0;
  int64_t waiting = 0;          // workers waiting for their step's release, or pushes held (async wait policy)
  uint64_t received_bytes = 0;  // tensor bytes of pushes
  uint64_t sent_bytes = 0;      // tensor bytes of pulls and pushPull answers
  int64_t resident_bytes = 0;   // the ps process's RSS
  HistogramSnapshot apply_seconds;  // from a push's offer to its apply, for the pushes applied
  int64_t checkpoints_written = 0;
  double last_checkpoint_seconds = 0;       // how long the last write of this shard's file took
  double last_checkpoint_age_seconds = -1;  // since it ended; -1: none written since the ps started
  std::vector<TableShardStats> tables;      // by name
  // Embedding table reads of training steps: lookupTables calls (a worker's
  // first step, or a batch not known before the push), and pushPull answers
  // that carried the rows of the worker's next batch.
  int64_t table_lookup_calls = 0, table_reads_with_push = 0;

  int64_t pushes_accepted() const { return accepted - applied_updates; }
};

void WriteHistogram(const HistogramSnapshot& h, wire::Histogram::Builder out);
// InvalidArgument unless there is one count more than bounds.
StatusOr<HistogramSnapshot> ReadHistogram(wire::Histogram::Reader in, const std::string& what);

void WriteShardStats(const ShardStats& stats, wire::ShardStats::Builder out);
// InvalidArgument for a mode this build does not know.
StatusOr<ShardStats> ReadShardStats(wire::ShardStats::Reader in);

}  // namespace flowps

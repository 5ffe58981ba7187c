// The command line's side of the ps shards' stats call: every shard's counters
// and memory (net/stats_wire.h ShardStats), for `flowps status` and `flowps top`.
// Runs on the calling thread's KJ event loop.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <kj/async-io.h>

#include "core/cluster_spec.h"
#include "core/status.h"
#include "net/stats_wire.h"

namespace flowps {

struct ShardReport {
  TaskSpec task;
  Status status;     // OK when the shard answered (FailedPrecondition: not configured by a job yet)
  ShardStats stats;  // valid when status is OK
};

// Every shard's stats, asked in parallel, each bounded by `timeout`.
std::vector<ShardReport> QueryShards(kj::AsyncIoContext& io, const ClusterSpec& spec,
                                     std::chrono::milliseconds timeout);

// One line per shard: step, pushes by outcome, waiting workers, variables, bytes, RSS.
std::string FormatShardTable(const std::vector<ShardReport>& reports);
// [{"task":..,"reachable":..,"global_step":..,"pushes":{"applied":..,"accepted":..,"stale":..,"duplicate":..,
//   "refused":..},"waiting_workers":..,"variables":..,"rows":..,"variable_bytes":..,"received_bytes":..,
//   "sent_bytes":..,"resident_bytes":..,"apply_seconds_mean":..,"checkpoints":..}, ...]
std::string FormatShardJson(const std::vector<ShardReport>& reports);

// "12.3 MiB"
std::string FormatBytes(double bytes);

}  // namespace flowps

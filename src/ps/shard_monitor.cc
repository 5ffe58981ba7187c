#include "ps/shard_monitor.h"

#include <chrono>

#include "ps/parameter_shard.h"

namespace flowps::ps {
namespace {

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ShardMonitor::ShardMonitor() : apply_seconds_(Histogram::SecondsBounds()) {}

void ShardMonitor::SetShard(std::shared_ptr<ParameterShard> shard) {
  std::lock_guard<std::mutex> lock(shard_mu_);
  shard_ = std::move(shard);
}

void ShardMonitor::CheckpointWritten(double seconds) {
  checkpoint_ns_.store(static_cast<int64_t>(seconds * 1e9), std::memory_order_relaxed);
  checkpoint_end_ns_.store(SteadyNs(), std::memory_order_relaxed);
  checkpoints_.fetch_add(1, std::memory_order_relaxed);
}

ShardStats ShardMonitor::Read() const {
  ShardStats s;
  std::shared_ptr<ParameterShard> shard;
  {
    std::lock_guard<std::mutex> lock(shard_mu_);
    shard = shard_;
  }
  if (shard != nullptr) {
    s.mode = shard->config().mode;
    s.global_step = shard->rule().global_step();
    const PushStats pushes = shard->rule().stats();
    s.accepted = pushes.accepted;
    s.applied_updates = pushes.applied_updates;
    s.stale_dropped = pushes.stale_dropped;
    s.duplicates = pushes.duplicates;
    s.refused = pushes.refused;
    s.waiting = pushes.waiting;
    const std::vector<std::string> names = shard->store().Names();
    s.variables = static_cast<uint32_t>(names.size());
    for (const std::string& n : names) {
      StatusOr<int64_t> rows = shard->store().PartRows(n);
      if (rows.ok()) s.rows += *rows;
    }
    s.bytes = static_cast<uint64_t>(shard->store().TotalBytes());
    for (const auto& [name, table] : shard->tables().All()) {
      const EmbeddingTableStats t = table->Stats();
      TableShardStats ts{name, table->spec().dim, t.rows, t.admitted, t.lookups, t.pending_lookups, t.updates,
                         t.dropped_updates, t.evicted_ttl, t.evicted_capacity, t.row_bytes, t.memory_bytes, {}};
      for (const HotKey& h : table->HotKeys(10)) ts.hot_keys.emplace_back(h.key, h.lookups);
      s.tables.push_back(std::move(ts));
    }
  }
  s.waiting += waiting_.load(std::memory_order_relaxed);
  s.received_bytes = received_bytes_.load(std::memory_order_relaxed);
  s.table_lookup_calls = table_lookup_calls_.load(std::memory_order_relaxed);
  s.table_reads_with_push = table_reads_with_push_.load(std::memory_order_relaxed);
  s.sent_bytes = sent_bytes_.load(std::memory_order_relaxed);
  s.resident_bytes = ResidentBytes();
  s.apply_seconds = apply_seconds_.Read();
  s.checkpoints_written = checkpoints_.load(std::memory_order_relaxed);
  if (s.checkpoints_written > 0) {
    s.last_checkpoint_seconds = static_cast<double>(checkpoint_ns_.load(std::memory_order_relaxed)) / 1e9;
    s.last_checkpoint_age_seconds =
        static_cast<double>(SteadyNs() - checkpoint_end_ns_.load(std::memory_order_relaxed)) / 1e9;
  }
  return s;
}

}  // namespace flowps::ps

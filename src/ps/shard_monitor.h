// ShardMonitor: what a flowps-ps task tells of its shard to the outside --
// its /metrics endpoint and the "ps" service's stats call (`flowps status`,
// `flowps top`). flowps-ps makes one in main and hands it to both.
//
// The RPC face (ParameterServerImpl) counts into it as calls run: bytes of
// tensors received and sent, pushes waiting for their step's release, apply
// latency, checkpoint writes. Counting costs relaxed atomic adds (no lock, no
// allocation). Read() gathers those with what the shard knows itself (its
// update rule's push counters, its variables) at the moment of the read.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/histogram.h"
#include "net/stats_wire.h"

namespace flowps::ps {

class ParameterShard;

class ShardMonitor {
 public:
  ShardMonitor();

  // The configured shard; set once, by the configure call.
  void SetShard(std::shared_ptr<ParameterShard> shard);

  void AddReceivedBytes(uint64_t bytes) { received_bytes_.fetch_add(bytes, std::memory_order_relaxed); }
  void AddSentBytes(uint64_t bytes) { sent_bytes_.fetch_add(bytes, std::memory_order_relaxed); }
  // A push starts / stops waiting for its step's release (sync pushPull).
  void WaitBegins() { waiting_.fetch_add(1, std::memory_order_relaxed); }
  void WaitEnds() { waiting_.fetch_sub(1, std::memory_order_relaxed); }
  void ObserveApply(double seconds) { apply_seconds_.Observe(seconds); }
  // A training step read table rows: with a lookupTables call of its own, or
  // in a pushPull answer.
  void TableLookupCall() { table_lookup_calls_.fetch_add(1, std::memory_order_relaxed); }
  void TableReadWithPush() { table_reads_with_push_.fetch_add(1, std::memory_order_relaxed); }
  // This shard's checkpoint file was written in `seconds`, ending now.
  void CheckpointWritten(double seconds);

  // Before SetShard, the shard's own fields (step, variables, pushes) are zero.
  ShardStats Read() const;

 private:
  mutable std::mutex shard_mu_;  // guards shard_ (set once; never held across a call into it)
  std::shared_ptr<ParameterShard> shard_;
  std::atomic<uint64_t> received_bytes_{0}, sent_bytes_{0};
  std::atomic<int64_t> waiting_{0};
  std::atomic<int64_t> table_lookup_calls_{0}, table_reads_with_push_{0};
  Histogram apply_seconds_;
  std::atomic<int64_t> checkpoints_{0};
  std::atomic<int64_t> checkpoint_ns_{0};       // duration of the last
  std::atomic<int64_t> checkpoint_end_ns_{0};   // steady clock at the end of the last
};

}  // namespace flowps::ps

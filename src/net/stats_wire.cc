#include "net/stats_wire.h"

#include "net/config_wire.h"

namespace flowps {

void WriteHistogram(const HistogramSnapshot& h, wire::Histogram::Builder out) {
  auto bounds = out.initUpperBounds(static_cast<unsigned>(h.upper_bounds.size()));
  for (unsigned i = 0; i < bounds.size(); ++i) bounds.set(i, h.upper_bounds[i]);
  auto counts = out.initCumulativeCounts(static_cast<unsigned>(h.cumulative_counts.size()));
  for (unsigned i = 0; i < counts.size(); ++i) counts.set(i, h.cumulative_counts[i]);
  out.setSum(h.sum);
}

StatusOr<HistogramSnapshot> ReadHistogram(wire::Histogram::Reader in, const std::string& what) {
  HistogramSnapshot h;
  for (double b : in.getUpperBounds()) h.upper_bounds.push_back(b);
  for (uint64_t c : in.getCumulativeCounts()) h.cumulative_counts.push_back(c);
  if (h.cumulative_counts.size() != h.upper_bounds.size() + 1)
    return InvalidArgument(what + ": the histogram has " + std::to_string(h.cumulative_counts.size()) +
                           " counts for " + std::to_string(h.upper_bounds.size()) + " bounds");
  h.sum = in.getSum();
  return h;
}

void WriteShardStats(const ShardStats& s, wire::ShardStats::Builder out) {
  out.setMode(TrainingModeToWire(s.mode));
  out.setGlobalStep(s.global_step);
  out.setVariables(s.variables);
  out.setRows(s.rows);
  out.setBytes(s.bytes);
  out.setAccepted(s.accepted);
  out.setAppliedUpdates(s.applied_updates);
  out.setStaleDropped(s.stale_dropped);
  out.setDuplicates(s.duplicates);
  out.setRefused(s.refused);
  out.setWaiting(s.waiting);
  out.setReceivedBytes(s.received_bytes);
  out.setSentBytes(s.sent_bytes);
  out.setResidentBytes(s.resident_bytes);
  WriteHistogram(s.apply_seconds, out.initApplySeconds());
  out.setCheckpointsWritten(s.checkpoints_written);
  out.setTableLookupCalls(s.table_lookup_calls);
  out.setTableReadsWithPush(s.table_reads_with_push);
  out.setLastCheckpointSeconds(s.last_checkpoint_seconds);
  out.setLastCheckpointAgeSeconds(s.last_checkpoint_age_seconds);
  auto tables = out.initTables(static_cast<unsigned>(s.tables.size()));
  for (size_t i = 0; i < s.tables.size(); ++i) {
    const TableShardStats& t = s.tables[i];
    auto w = tables[static_cast<unsigned>(i)];
    w.setName(t.name);
    w.setDim(t.dim);
    w.setRows(t.rows);
    w.setAdmitted(t.admitted);
    w.setLookups(t.lookups);
    w.setPendingLookups(t.pending_lookups);
    w.setUpdates(t.updates);
    w.setDroppedUpdates(t.dropped_updates);
    w.setEvictedTtl(t.evicted_ttl);
    w.setEvictedCapacity(t.evicted_capacity);
    w.setRowBytes(t.row_bytes);
    w.setMemoryBytes(t.memory_bytes);
    auto hot = w.initHotKeys(static_cast<unsigned>(t.hot_keys.size()));
    for (size_t k = 0; k < t.hot_keys.size(); ++k) {
      hot[static_cast<unsigned>(k)].setKey(t.hot_keys[k].first);
      hot[static_cast<unsigned>(k)].setLookups(t.hot_keys[k].second);
    }
  }
}

StatusOr<ShardStats> ReadShardStats(wire::ShardStats::Reader in) {
  ShardStats s;
  FLOWPS_ASSIGN_OR_RETURN(s.mode, TrainingModeFromWire(in.getMode()));
  s.global_step = in.getGlobalStep();
  s.variables = in.getVariables();
  s.rows = in.getRows();
  s.bytes = in.getBytes();
  s.accepted = in.getAccepted();
  s.applied_updates = in.getAppliedUpdates();
  s.stale_dropped = in.getStaleDropped();
  s.duplicates = in.getDuplicates();
  s.refused = in.getRefused();
  s.waiting = in.getWaiting();
  s.received_bytes = in.getReceivedBytes();
  s.sent_bytes = in.getSentBytes();
  s.resident_bytes = in.getResidentBytes();
  FLOWPS_ASSIGN_OR_RETURN(s.apply_seconds, ReadHistogram(in.getApplySeconds(), "stats: applySeconds"));
  s.checkpoints_written = in.getCheckpointsWritten();
  s.table_lookup_calls = in.getTableLookupCalls();
  s.table_reads_with_push = in.getTableReadsWithPush();
  s.last_checkpoint_seconds = in.getLastCheckpointSeconds();
  s.last_checkpoint_age_seconds = in.getLastCheckpointAgeSeconds();
  for (auto t : in.getTables()) {
    TableShardStats ts{t.getName(), t.getDim(), t.getRows(), t.getAdmitted(), t.getLookups(), t.getPendingLookups(),
                       t.getUpdates(), t.getDroppedUpdates(), t.getEvictedTtl(), t.getEvictedCapacity(),
                       t.getRowBytes(), t.getMemoryBytes(), {}};
    for (auto h : t.getHotKeys()) ts.hot_keys.emplace_back(h.getKey(), h.getLookups());
    s.tables.push_back(std::move(ts));
  }
  return s;
}

}  // namespace flowps

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
  out.setLastCheckpointSeconds(s.last_checkpoint_seconds);
  out.setLastCheckpointAgeSeconds(s.last_checkpoint_age_seconds);
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
  s.last_checkpoint_seconds = in.getLastCheckpointSeconds();
  s.last_checkpoint_age_seconds = in.getLastCheckpointAgeSeconds();
  return s;
}

}  // namespace flowps

#include "cli/top_view.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

namespace flowps {
namespace {

// Mean of the observations made between two snapshots of a histogram (over
// the whole snapshot when `before` is null or saw as many).
double Mean(const HistogramSnapshot* before, const HistogramSnapshot& now) {
  uint64_t count = now.count();
  double sum = now.sum;
  if (before != nullptr && before->count() < count) {
    count -= before->count();
    sum -= before->sum;
  }
  return count == 0 ? 0 : sum / static_cast<double>(count);
}

double MeanMs(const HistogramSnapshot* before, const HistogramSnapshot& now) { return 1000.0 * Mean(before, now); }

WorkerRow MakeWorkerRow(const WorkerReport& now, const WorkerReport* before, double dt) {
  WorkerRow row;
  row.task = now.task.name();
  row.reachable = now.status.ok();
  if (!row.reachable) {
    row.error = now.status.message();
    return row;
  }
  const WorkerMetricsSnapshot& m = now.metrics;
  const WorkerMetricsSnapshot* b = before != nullptr && before->status.ok() ? &before->metrics : nullptr;
  row.state = JobStateName(now.job.state);
  row.chief = now.job.chief;
  row.steps = now.job.local_steps;
  if (b != nullptr && dt > 0) {
    row.steps_per_s = static_cast<double>(m.steps - b->steps) / dt;
    row.examples_per_s = static_cast<double>(m.examples - b->examples) / dt;
  } else {
    row.examples_per_s = now.job.examples_per_sec;
  }
  row.pull_ms = MeanMs(b ? &b->pull_seconds : nullptr, m.pull_seconds);
  row.compute_ms = MeanMs(b ? &b->compute_seconds : nullptr, m.compute_seconds);
  row.push_ms = MeanMs(b ? &b->push_seconds : nullptr, m.push_seconds);
  row.wait_ms = MeanMs(b ? &b->wait_seconds : nullptr, m.wait_seconds);
  row.stale = now.job.stale_dropped;
  row.staleness = Mean(b ? &b->staleness : nullptr, m.staleness);
  row.resident_bytes = m.resident_bytes;
  return row;
}

void FlagStragglers(std::vector<WorkerRow>& rows) {
  for (WorkerRow& row : rows) {
    if (row.steps_per_s <= 0) continue;
    double best_rate = 0, least_busy = -1;
    int others = 0;
    for (const WorkerRow& other : rows) {
      if (&other == &row || other.steps_per_s <= 0) continue;
      ++others;
      best_rate = std::max(best_rate, other.steps_per_s);
      const double busy = other.pull_ms + other.compute_ms + other.push_ms;
      least_busy = least_busy < 0 ? busy : std::min(least_busy, busy);
    }
    if (others == 0) continue;
    const double busy = row.pull_ms + row.compute_ms + row.push_ms;
    row.straggler = row.steps_per_s < 0.75 * best_rate || (least_busy > 0 && busy > 1.5 * least_busy);
  }
}

std::string JobLine(const ClusterSpec& spec, const TopSample* previous, const TopSample& now) {
  const WorkerReport& chief = now.workers[static_cast<size_t>(spec.chief)];
  if (!chief.status.ok()) return "job: the chief " + chief.task.name() + " does not answer";
  const WorkerJobStatus& j = chief.job;
  if (j.state == JobState::kIdle) return "job: none";
  double rate = 0;
  if (previous != nullptr && now.time_s > previous->time_s) {
    const WorkerReport& was = previous->workers[static_cast<size_t>(spec.chief)];
    if (was.status.ok() && was.job.job_id == j.job_id)
      rate = static_cast<double>(j.global_step - was.job.global_step) / (now.time_s - previous->time_s);
  }
  std::string line = fmt::format("job '{}' {}: step {}/{}", j.job, JobStateName(j.state), j.global_step, j.total_steps);
  if (j.total_steps > 0) line += fmt::format(" ({:.1f}%)", 100.0 * j.global_step / j.total_steps);
  line += fmt::format("  {:.1f} steps/s  loss {:.4f}", rate, j.loss);
  line += j.test_accuracy < 0 ? "  test accuracy -" : fmt::format("  test accuracy {:.2f}%", 100.0 * j.test_accuracy);
  if (!j.error.empty()) line += "  error: " + j.error;
  return line;
}

}  // namespace

TopSample TakeTopSample(kj::AsyncIoContext& io, const ClusterSpec& spec, std::chrono::milliseconds timeout) {
  // The loop's timer reads the time it last ran: bring it up to date, or the
  // calls' deadlines count the time slept since.
  io.waitScope.poll();
  TopSample s;
  s.workers = QueryWorkers(io, spec, timeout);
  s.shards = QueryShards(io, spec, timeout);
  s.time_s = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  return s;
}

TopFrame ComputeTopFrame(const ClusterSpec& spec, const TopSample* previous, const TopSample& now) {
  TopFrame frame;
  const double dt = previous != nullptr ? now.time_s - previous->time_s : 0;
  frame.job_line = JobLine(spec, previous, now);
  for (size_t i = 0; i < now.workers.size(); ++i) {
    const WorkerReport* before = previous != nullptr && i < previous->workers.size() ? &previous->workers[i] : nullptr;
    frame.workers.push_back(MakeWorkerRow(now.workers[i], before, dt));
  }
  FlagStragglers(frame.workers);
  for (size_t i = 0; i < now.shards.size(); ++i) {
    const ShardReport& s = now.shards[i];
    ShardRow row;
    row.task = s.task.name();
    if (!s.status.ok()) {
      row.error = s.status.message();
      frame.shards.push_back(row);
      continue;
    }
    row.stats = s.stats;
    const ShardReport* before = previous != nullptr && i < previous->shards.size() ? &previous->shards[i] : nullptr;
    const bool delta = before != nullptr && before->status.ok() && dt > 0;
    if (delta) {
      const int64_t pushes = s.stats.accepted + s.stats.stale_dropped + s.stats.duplicates + s.stats.refused;
      const int64_t was = before->stats.accepted + before->stats.stale_dropped + before->stats.duplicates +
                          before->stats.refused;
      row.pushes_per_s = static_cast<double>(pushes - was) / dt;
    }
    row.apply_ms = MeanMs(delta ? &before->stats.apply_seconds : nullptr, s.stats.apply_seconds);
    frame.shards.push_back(row);
  }
  return frame;
}

std::string RenderTopFrame(const ClusterSpec& spec, const TopFrame& frame, int width) {
  std::vector<std::string> lines;
  lines.push_back("flowps top: " + spec.path + "   (q quits)");
  lines.push_back(frame.job_line);
  lines.push_back("");
  lines.push_back(fmt::format("{:<20} {:<8} {:>7} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>6} {:>10}", "WORKER", "STATE",
                              "STEPS", "STEPS/S", "EX/S", "PULL ms", "COMP ms", "PUSH ms", "WAIT ms", "STALE", "RSS"));
  for (const WorkerRow& w : frame.workers) {
    if (!w.reachable) {
      lines.push_back(fmt::format("{:<20} DOWN  {}", w.task, w.error));
      continue;
    }
    std::string flags = std::string(w.chief ? " chief" : "") + (w.straggler ? " STRAGGLER" : "");
    lines.push_back(fmt::format("{:<20} {:<8} {:>7} {:>8.1f} {:>9.0f} {:>8.2f} {:>8.2f} {:>8.2f} {:>8.2f} {:>6} {:>10}{}",
                                w.task, w.state, w.steps, w.steps_per_s, w.examples_per_s, w.pull_ms, w.compute_ms,
                                w.push_ms, w.wait_ms, w.stale, FormatBytes(static_cast<double>(w.resident_bytes)),
                                flags));
  }
  lines.push_back("");
  lines.push_back(fmt::format("{:<20} {:>7} {:>8} {:>8} {:>6} {:>5} {:>7} {:>7} {:>8} {:>8} {:>5} {:>10} {:>10}",
                              "PS SHARD", "STEP", "APPLIED", "ACCEPTED", "STALE", "DUP", "REFUSED", "WAITING",
                              "PUSHES/S", "APPLY ms", "VARS", "VARIABLES", "RSS"));
  for (const ShardRow& s : frame.shards) {
    if (!s.error.empty()) {
      lines.push_back(fmt::format("{:<20} {}", s.task, s.error));
      continue;
    }
    const ShardStats& st = s.stats;
    lines.push_back(fmt::format("{:<20} {:>7} {:>8} {:>8} {:>6} {:>5} {:>7} {:>7} {:>8.1f} {:>8.3f} {:>5} {:>10} {:>10}",
                                s.task, st.global_step, st.applied_updates, st.pushes_accepted(), st.stale_dropped,
                                st.duplicates, st.refused, st.waiting, s.pushes_per_s, s.apply_ms, st.variables,
                                FormatBytes(static_cast<double>(st.bytes)),
                                FormatBytes(static_cast<double>(st.resident_bytes))));
  }
  std::string out;
  for (std::string& line : lines) {
    if (width > 0 && static_cast<int>(line.size()) > width) line.resize(static_cast<size_t>(width));
    out += line + "\n";
  }
  return out;
}

}  // namespace flowps

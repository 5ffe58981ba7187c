// TopView: one screen of `flowps top` -- the job, its step rate, one line per
// worker (state, steps, examples/s, the step time split into pull, compute,
// push and wait, stale pushes, memory; stragglers flagged) and one per ps
// shard (step, pushes by outcome, push rate, waiting workers, apply latency,
// variables and memory). Rates and the step-time split are taken over the
// interval between two samples (the last second); with one sample, over
// the tasks' lifetimes.
//
// A plain value computed from samples: no I/O, so that it can be tested.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "cli/shard_report.h"
#include "core/cluster_spec.h"
#include "worker/job_client.h"

namespace flowps {

struct TopSample {
  double time_s = 0;  // monotonic seconds when the sample was taken
  std::vector<WorkerReport> workers;  // one per spec.workers
  std::vector<ShardReport> shards;    // one per spec.ps
};

// A worker is flagged a straggler when, of at least two workers that
// stepped, its steps/s is below 3/4 of the best of the others, or its busy
// time per step (pull + compute + push) is above 1.5 times the least of the others'.
struct WorkerRow {
  std::string task;
  bool reachable = false;
  std::string error;  // why it is not reachable
  std::string state;
  bool chief = false;
  int64_t steps = 0;
  double steps_per_s = 0, examples_per_s = 0;
  double pull_ms = 0, compute_ms = 0, push_ms = 0, wait_ms = 0;  // means per step
  int64_t stale = 0;
  double staleness = 0;  // mean steps of staleness of its pushes taken
  int64_t resident_bytes = 0;
  bool straggler = false;
};

struct ShardRow {
  std::string task;
  std::string error;  // "" when it answered
  ShardStats stats;
  double pushes_per_s = 0;
  double apply_ms = 0;  // mean over the interval
};

struct TopFrame {
  std::string job_line;  // the job as the chief sees it, with the step rate
  std::vector<WorkerRow> workers;
  std::vector<ShardRow> shards;
};

// Asks every worker and shard of `spec` (each bounded by `timeout`) on the
// calling thread's event loop.
TopSample TakeTopSample(kj::AsyncIoContext& io, const ClusterSpec& spec, std::chrono::milliseconds timeout);

// `previous` may be null (the first sample).
TopFrame ComputeTopFrame(const ClusterSpec& spec, const TopSample* previous, const TopSample& now);
// The screen's text, lines cut at `width` columns.
std::string RenderTopFrame(const ClusterSpec& spec, const TopFrame& frame, int width);

}  // namespace flowps

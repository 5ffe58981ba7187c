// WorkerMetrics: what a flowps-worker task tells of its training to the
// outside -- its /metrics endpoint and the worker service's status call
// (`flowps status`, `flowps top`). flowps-worker makes one in main and hands
// it to the WorkerRuntime and to the metrics endpoint.
//
// Counters live for the process (they do not restart with a job), as
// Prometheus counters must. Recording a step costs relaxed atomic adds (no
// lock, no allocation). Thread safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/histogram.h"
#include "core/status.h"
#include "net/worker.capnp.h"
#include "worker/training_loop.h"

namespace flowps {

struct WorkerMetricsSnapshot {
  int64_t steps = 0;         // pushes answered
  int64_t examples = 0;      // examples trained on
  int64_t stale_pushes = 0;  // pushes some shard dropped as stale
  HistogramSnapshot pull_seconds, compute_seconds, push_seconds, wait_seconds;  // StepTimes
  HistogramSnapshot staleness;  // StepRecord::staleness of the pushes taken
  double loss = 0;              // of the last step
  int64_t evaluations = 0;
  double test_accuracy = -1;    // of the last evaluation; -1 before the first
  int64_t evaluated_step = -1;  // its global step
  int64_t resident_bytes = 0;   // the worker process's RSS
};

// The worker service's status call carries it (net/schema/worker.capnp).
void WriteWorkerMetrics(const WorkerMetricsSnapshot& m, wire::WorkerMetrics::Builder out);
StatusOr<WorkerMetricsSnapshot> ReadWorkerMetrics(wire::WorkerMetrics::Reader in);

class WorkerMetrics {
 public:
  WorkerMetrics();

  void RecordStep(const StepRecord& step);
  void RecordEvaluation(int64_t global_step, double accuracy);
  WorkerMetricsSnapshot Read() const;

 private:
  std::atomic<int64_t> steps_{0}, examples_{0}, stale_{0};
  Histogram pull_, compute_, push_, wait_, staleness_;
  std::atomic<double> loss_{0};
  std::atomic<int64_t> evaluations_{0}, evaluated_step_{-1};
  std::atomic<double> accuracy_{-1};
};

}  // namespace flowps

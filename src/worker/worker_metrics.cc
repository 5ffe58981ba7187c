#include "worker/worker_metrics.h"

#include "net/stats_wire.h"

namespace flowps {

WorkerMetrics::WorkerMetrics()
    : pull_(Histogram::SecondsBounds()),
      compute_(Histogram::SecondsBounds()),
      push_(Histogram::SecondsBounds()),
      wait_(Histogram::SecondsBounds()),
      staleness_(Histogram::StepsBounds()) {}

void WorkerMetrics::RecordStep(const StepRecord& step) {
  steps_.fetch_add(1, std::memory_order_relaxed);
  examples_.fetch_add(step.examples, std::memory_order_relaxed);
  if (step.stale) {
    stale_.fetch_add(1, std::memory_order_relaxed);
  } else {
    staleness_.Observe(static_cast<double>(step.staleness));
  }
  pull_.Observe(step.times.pull);
  compute_.Observe(step.times.compute);
  push_.Observe(step.times.push);
  wait_.Observe(step.times.wait);
  loss_.store(step.loss, std::memory_order_relaxed);
}

void WorkerMetrics::RecordEvaluation(int64_t global_step, double accuracy) {
  accuracy_.store(accuracy, std::memory_order_relaxed);
  evaluated_step_.store(global_step, std::memory_order_relaxed);
  evaluations_.fetch_add(1, std::memory_order_relaxed);
}

WorkerMetricsSnapshot WorkerMetrics::Read() const {
  WorkerMetricsSnapshot s;
  s.steps = steps_.load(std::memory_order_relaxed);
  s.examples = examples_.load(std::memory_order_relaxed);
  s.stale_pushes = stale_.load(std::memory_order_relaxed);
  s.pull_seconds = pull_.Read();
  s.compute_seconds = compute_.Read();
  s.push_seconds = push_.Read();
  s.wait_seconds = wait_.Read();
  s.staleness = staleness_.Read();
  s.loss = loss_.load(std::memory_order_relaxed);
  s.evaluations = evaluations_.load(std::memory_order_relaxed);
  s.test_accuracy = accuracy_.load(std::memory_order_relaxed);
  s.evaluated_step = evaluated_step_.load(std::memory_order_relaxed);
  s.resident_bytes = ResidentBytes();
  return s;
}

void WriteWorkerMetrics(const WorkerMetricsSnapshot& m, wire::WorkerMetrics::Builder out) {
  out.setSteps(m.steps);
  out.setExamples(m.examples);
  out.setStalePushes(m.stale_pushes);
  WriteHistogram(m.pull_seconds, out.initPullSeconds());
  WriteHistogram(m.compute_seconds, out.initComputeSeconds());
  WriteHistogram(m.push_seconds, out.initPushSeconds());
  WriteHistogram(m.wait_seconds, out.initWaitSeconds());
  WriteHistogram(m.staleness, out.initStaleness());
  out.setLoss(m.loss);
  out.setEvaluations(m.evaluations);
  out.setTestAccuracy(m.test_accuracy);
  out.setEvaluatedStep(m.evaluated_step);
  out.setResidentBytes(m.resident_bytes);
}

StatusOr<WorkerMetricsSnapshot> ReadWorkerMetrics(wire::WorkerMetrics::Reader in) {
  WorkerMetricsSnapshot m;
  m.steps = in.getSteps();
  m.examples = in.getExamples();
  m.stale_pushes = in.getStalePushes();
  FLOWPS_ASSIGN_OR_RETURN(m.pull_seconds, ReadHistogram(in.getPullSeconds(), "worker metrics: pullSeconds"));
  FLOWPS_ASSIGN_OR_RETURN(m.compute_seconds, ReadHistogram(in.getComputeSeconds(), "worker metrics: computeSeconds"));
  FLOWPS_ASSIGN_OR_RETURN(m.push_seconds, ReadHistogram(in.getPushSeconds(), "worker metrics: pushSeconds"));
  FLOWPS_ASSIGN_OR_RETURN(m.wait_seconds, ReadHistogram(in.getWaitSeconds(), "worker metrics: waitSeconds"));
  FLOWPS_ASSIGN_OR_RETURN(m.staleness, ReadHistogram(in.getStaleness(), "worker metrics: staleness"));
  m.loss = in.getLoss();
  m.evaluations = in.getEvaluations();
  m.test_accuracy = in.getTestAccuracy();
  m.evaluated_step = in.getEvaluatedStep();
  m.resident_bytes = in.getResidentBytes();
  return m;
}

}  // namespace flowps

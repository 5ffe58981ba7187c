#include "cli/metric_families.h"

#include <limits>
#include <string>
#include <utility>

namespace flowps {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

Labels TaskLabels(const TaskSpec& task) {
  Labels labels = {{"job", task.job}, {"task", std::to_string(task.index)}};
  if (task.job == "ps") labels.push_back({"shard", std::to_string(task.index)});
  return labels;
}

// Families are built one sample at a time: Add() opens a family (or adds to
// the last one when it has the same name).
class Families {
 public:
  explicit Families(Labels labels) : labels_(std::move(labels)) {}

  Families& Counter(const std::string& name, const std::string& help, double value, Labels extra = {}) {
    Open(name, help, MetricType::Counter).metric.emplace_back(Sample(extra)).counter.value = value;
    return *this;
  }
  Families& Gauge(const std::string& name, const std::string& help, double value, Labels extra = {}) {
    Open(name, help, MetricType::Gauge).metric.emplace_back(Sample(extra)).gauge.value = value;
    return *this;
  }
  Families& Histogram(const std::string& name, const std::string& help, const HistogramSnapshot& h,
                      Labels extra = {}) {
    ClientMetric m = Sample(extra);
    m.histogram.sample_count = h.count();
    m.histogram.sample_sum = h.sum;
    for (size_t i = 0; i < h.cumulative_counts.size(); ++i) {
      const double bound = i < h.upper_bounds.size() ? h.upper_bounds[i] : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back({h.cumulative_counts[i], bound});
    }
    Open(name, help, MetricType::Histogram).metric.push_back(std::move(m));
    return *this;
  }
  std::vector<MetricFamily> Take() { return std::move(families_); }

 private:
  ClientMetric Sample(const Labels& extra) const {
    ClientMetric m;
    m.label = labels_;
    m.label.insert(m.label.end(), extra.begin(), extra.end());
    return m;
  }
  MetricFamily& Open(const std::string& name, const std::string& help, MetricType type) {
    if (families_.empty() || families_.back().name != name) families_.push_back(MetricFamily{name, help, type, {}});
    return families_.back();
  }

  const Labels labels_;
  std::vector<MetricFamily> families_;
};

}  // namespace

std::vector<MetricFamily> ShardMetricFamilies(const TaskSpec& task, const ShardStats& s) {
  Families f(TaskLabels(task));
  const char* pushes = "pushes this shard answered, by outcome (applied: in the variables; accepted: counted "
                       "towards a sync step another push completed; stale, duplicate: dropped; refused: bad input)";
  const std::pair<const char*, int64_t> outcomes[] = {{"applied", s.applied_updates},
                                                      {"accepted", s.pushes_accepted()},
                                                      {"stale", s.stale_dropped},
                                                      {"duplicate", s.duplicates},
                                                      {"refused", s.refused}};
  for (const auto& [outcome, n] : outcomes)
    f.Counter("flowps_ps_pushes_total", pushes, static_cast<double>(n), {{"outcome", outcome}});
  f.Gauge("flowps_ps_waiting_workers", "pushes waiting for their step's release (sync) or held (async wait policy)",
          static_cast<double>(s.waiting))
      .Gauge("flowps_ps_global_step", "the shard's global step", static_cast<double>(s.global_step))
      .Counter("flowps_ps_received_bytes_total", "tensor bytes of the pushes received",
               static_cast<double>(s.received_bytes))
      .Counter("flowps_ps_sent_bytes_total", "tensor bytes of the values sent (pulls and pushPull answers)",
               static_cast<double>(s.sent_bytes))
      .Gauge("flowps_ps_variables", "variable parts this shard holds", s.variables)
      .Gauge("flowps_ps_rows", "rows of the variable parts this shard holds", static_cast<double>(s.rows))
      .Gauge("flowps_ps_variable_bytes", "bytes of the values of the parts this shard holds",
             static_cast<double>(s.bytes))
      .Gauge("flowps_resident_memory_bytes", "resident set size of the task's process",
             static_cast<double>(s.resident_bytes))
      .Histogram("flowps_ps_apply_seconds", "from a push's offer to its apply, for the pushes applied",
                 s.apply_seconds)
      .Counter("flowps_ps_checkpoints_total", "checkpoint files this shard wrote",
               static_cast<double>(s.checkpoints_written));
  const char* table_reads = "embedding table reads of training steps (lookup: a lookupTables call of its own; "
                            "push: the rows of the next batch in a pushPull answer)";
  f.Counter("flowps_ps_table_reads_total", table_reads, static_cast<double>(s.table_lookup_calls), {{"via", "lookup"}})
      .Counter("flowps_ps_table_reads_total", table_reads, static_cast<double>(s.table_reads_with_push),
               {{"via", "push"}});
  if (s.checkpoints_written > 0) {
    f.Gauge("flowps_ps_checkpoint_duration_seconds", "how long the last checkpoint file took to write",
            s.last_checkpoint_seconds)
        .Gauge("flowps_ps_checkpoint_age_seconds", "seconds since the last checkpoint file was written",
               s.last_checkpoint_age_seconds);
  }
  return f.Take();
}

std::vector<MetricFamily> WorkerMetricFamilies(const TaskSpec& task, const WorkerMetricsSnapshot& m) {
  Families f(TaskLabels(task));
  f.Counter("flowps_worker_steps_total", "steps of this worker whose push was answered", static_cast<double>(m.steps))
      .Counter("flowps_worker_examples_total", "examples this worker trained on", static_cast<double>(m.examples))
      .Counter("flowps_worker_stale_pushes_total", "pushes of this worker a shard dropped as stale",
               static_cast<double>(m.stale_pushes));
  const char* phases = "where a step's time went: pull (loading the parameters into the model), compute (the "
                       "batch and its gradients), push (the pushPull round trip less wait), wait (for the step's "
                       "release by the shards)";
  const std::pair<const char*, const HistogramSnapshot*> split[] = {
      {"pull", &m.pull_seconds}, {"compute", &m.compute_seconds}, {"push", &m.push_seconds}, {"wait", &m.wait_seconds}};
  for (const auto& [phase, h] : split) f.Histogram("flowps_worker_step_seconds", phases, *h, {{"phase", phase}});
  f.Histogram("flowps_worker_push_staleness_steps",
              "steps the shards had moved past the parameters a push was computed from, for the pushes taken",
              m.staleness)
      .Gauge("flowps_worker_loss", "the training loss of this worker's last step", m.loss)
      .Counter("flowps_worker_evaluations_total", "test-set evaluations (chief)", static_cast<double>(m.evaluations))
      .Gauge("flowps_resident_memory_bytes", "resident set size of the task's process",
             static_cast<double>(m.resident_bytes));
  if (m.evaluations > 0) {
    f.Gauge("flowps_worker_test_accuracy_ratio", "the last evaluation's test accuracy, 0..1 (chief)", m.test_accuracy)
        .Gauge("flowps_worker_evaluated_step", "the global step of the last evaluation (chief)",
               static_cast<double>(m.evaluated_step));
  }
  return f.Take();
}

}  // namespace flowps

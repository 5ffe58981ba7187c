// The metric families a ps shard and a worker expose on /metrics, in the
// Prometheus text format as prometheus-cpp writes it.
#include <catch2/catch.hpp>

#include <prometheus/text_serializer.h>

#include "cli/metric_families.h"

using namespace flowps;

namespace {

std::string Text(const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

bool Has(const std::string& text, const std::string& line) { return text.find(line) != std::string::npos; }

}  // namespace

TEST_CASE("a ps shard's pushes are one counter family by outcome, labelled with its job, task and shard") {
  TaskSpec task;
  task.job = "ps";
  task.index = 1;
  ShardStats s;
  s.global_step = 12;
  s.accepted = 20;  // sync, 2 workers: 10 steps applied, 10 pushes counted towards them
  s.applied_updates = 10;
  s.stale_dropped = 3;
  s.resident_bytes = 4096;
  s.table_lookup_calls = 2;  // the workers' first steps
  s.table_reads_with_push = 18;
  Histogram apply(Histogram::SecondsBounds());
  apply.Observe(0.002);
  s.apply_seconds = apply.Read();
  const std::string text = Text(ShardMetricFamilies(task, s));
  CHECK(Has(text, "# TYPE flowps_ps_pushes_total counter"));
  CHECK(Has(text, "flowps_ps_pushes_total{job=\"ps\",task=\"1\",shard=\"1\",outcome=\"applied\"} 10\n"));
  CHECK(Has(text, "flowps_ps_pushes_total{job=\"ps\",task=\"1\",shard=\"1\",outcome=\"accepted\"} 10\n"));
  CHECK(Has(text, "flowps_ps_pushes_total{job=\"ps\",task=\"1\",shard=\"1\",outcome=\"stale\"} 3\n"));
  CHECK(Has(text, "flowps_ps_global_step{job=\"ps\",task=\"1\",shard=\"1\"} 12\n"));
  CHECK(Has(text, "flowps_resident_memory_bytes{job=\"ps\",task=\"1\",shard=\"1\"} 4096\n"));
  CHECK(Has(text, "flowps_ps_apply_seconds_bucket{job=\"ps\",task=\"1\",shard=\"1\",le=\"0.001\"} 0\n"));
  CHECK(Has(text, "flowps_ps_apply_seconds_bucket{job=\"ps\",task=\"1\",shard=\"1\",le=\"0.0025\"} 1\n"));
  CHECK(Has(text, "flowps_ps_apply_seconds_bucket{job=\"ps\",task=\"1\",shard=\"1\",le=\"+Inf\"} 1\n"));
  CHECK(Has(text, "flowps_ps_apply_seconds_count{job=\"ps\",task=\"1\",shard=\"1\"} 1\n"));
  CHECK(!Has(text, "flowps_ps_checkpoint_age_seconds"));  // none written yet
  CHECK(Has(text, "flowps_ps_table_reads_total{job=\"ps\",task=\"1\",shard=\"1\",via=\"lookup\"} 2\n"));
  CHECK(Has(text, "flowps_ps_table_reads_total{job=\"ps\",task=\"1\",shard=\"1\",via=\"push\"} 18\n"));
}

TEST_CASE("a worker's step time is one histogram family split by phase, and its steps a counter") {
  TaskSpec task;
  task.job = "worker";
  task.index = 0;
  WorkerMetrics metrics;
  StepRecord step;
  step.examples = 64;
  step.loss = 0.5;
  step.times = StepTimes{0.001, 0.02, 0.003, 0.0};
  metrics.RecordStep(step);
  metrics.RecordStep(step);
  const std::string text = Text(WorkerMetricFamilies(task, metrics.Read()));
  CHECK(Has(text, "flowps_worker_steps_total{job=\"worker\",task=\"0\"} 2\n"));
  CHECK(Has(text, "flowps_worker_examples_total{job=\"worker\",task=\"0\"} 128\n"));
  CHECK(Has(text, "flowps_worker_step_seconds_count{job=\"worker\",task=\"0\",phase=\"compute\"} 2\n"));
  CHECK(Has(text, "flowps_worker_step_seconds_bucket{job=\"worker\",task=\"0\",phase=\"compute\",le=\"0.025\"} 2\n"));
  CHECK(Has(text, "flowps_worker_step_seconds_bucket{job=\"worker\",task=\"0\",phase=\"compute\",le=\"0.01\"} 0\n"));
  CHECK(Has(text, "flowps_worker_push_staleness_steps_count{job=\"worker\",task=\"0\"} 2\n"));
  CHECK(Has(text, "flowps_worker_loss{job=\"worker\",task=\"0\"} 0.5\n"));
  CHECK(!Has(text, "flowps_worker_test_accuracy_ratio"));  // no evaluation yet
  metrics.RecordEvaluation(100, 0.85);
  CHECK(Has(Text(WorkerMetricFamilies(task, metrics.Read())),
            "flowps_worker_test_accuracy_ratio{job=\"worker\",task=\"0\"} 0.85\n"));
}

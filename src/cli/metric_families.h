// The metric families of a ps shard and of a worker, named after Prometheus's
// conventions: the flowps_ prefix, base units (seconds, bytes) in the name,
// _total for counters, and the labels job ("ps" or "worker"), task (its
// index) and, on a ps, shard. The list, with what each means, is in the
// README's "Monitoring" section.
#pragma once

#include <vector>

#include <prometheus/metric_family.h>

#include "core/cluster_spec.h"
#include "net/stats_wire.h"
#include "worker/worker_metrics.h"

namespace flowps {

std::vector<prometheus::MetricFamily> ShardMetricFamilies(const TaskSpec& task, const ShardStats& stats);
std::vector<prometheus::MetricFamily> WorkerMetricFamilies(const TaskSpec& task, const WorkerMetricsSnapshot& m);

}  // namespace flowps

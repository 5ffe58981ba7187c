// `flowps bench metrics-cost`: what monitoring costs a training step, in one
// run. A worker's gradient step (LocalModel::ComputeGradients of the MLP
// 784-256-10 at batch 64, one CPU tower: the graph through the
// PartitionedRunner and the executor) is timed three ways, interleaved step by
// step so that the machine's load hits all alike:
//   plain      no counters, the trace hooks off (the executor's one branch per node)
//   metrics    plus what a step and a push count: WorkerMetrics::RecordStep
//              and a ShardMonitor's bytes, wait and apply-latency histogram
//   traced     the trace hooks on (TraceRecorder: a span per node, partition and phase)
// and the hooks alone in tight loops, in thread CPU ns (not inflated by other
// load): per RecordStep + ShardMonitor calls, per inactive TraceScope (the
// cost when off), per recorded span.
// Options: steps (per variant, default 300), warmup (default 30), hidden
// (default 256), batch (default 64).
#pragma once

#include "bench/benchmark.h"

namespace flowps {

Benchmark MakeMetricsCostBenchmark();

}  // namespace flowps

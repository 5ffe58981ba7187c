// `flowps bench sparse`: the ps side of a sparse training step as an
// embedding table grows.
#pragma once

#include "bench/benchmark.h"

namespace flowps {

// `sparse`: one ps shard's EmbeddingTable (in this process, no RPC) holding
// 10^5, 10^6 and 10^7 rows (--opt sizes=..., comma-separated) of dim 16 (dim=)
// with Adagrad (optimizer=). A step looks up `batch` distinct keys (default
// 8192; 90% of them rows that exist, drawn uniformly, 10% new keys) and pushes
// a gradient for each, as a shard serves one worker's step. Reports per size
// the step time (median of `steps`, default 50), lookups per second on one
// core, and the process RSS and the table's bytes over its row + slot bytes;
// then the largest table's step over the smallest's (goal: <= 1.5, flat).
Benchmark MakeSparseBenchmark();

}  // namespace flowps

// `flowps bench sparse`: the ps side of a sparse training step as an
// embedding table grows.
#pragma once

#include "bench/benchmark.h"

namespace flowps {

// `sparse`: the sparse step as the embedding tables grow through 10^5, 10^6
// and 10^7 rows (--opt sizes=..., comma-separated).
//   path=rpc (the default): wide_deep's step over loopback RPC to 2 ps shards
//     of this process: `batch` ids (default 4096; 90% of them existing rows,
//     10% new) deduplicated and split by shard, one pushPull per shard (the
//     MLP's dense gradients and both tables' rows by key) that carries the
//     next batch's keys and answers their rows; beside it, in the same run,
//     the step with a lookupTables per shard of its own before the pushPull
//     (`_separate_lookup`, as before the rows rode on the push); tables
//     'wide' (dim 1, FTRL) and 'deep' (dim=, default 8, Adagrad).
//   path=table: one EmbeddingTable in this process, no RPC: `batch` keys
//     (default 8192) looked up and pushed, dim 16, optimizer= (adagrad).
// Reports per size the step time (median of `steps`, default 100 / 50), ids
// per second, and the process RSS and the tables' bytes over their row + slot
// bytes; then the largest tables' step over the smallest's (goal: <= 1.5, flat).
Benchmark MakeSparseBenchmark();

}  // namespace flowps

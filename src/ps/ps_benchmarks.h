// The parameter server's benchmarks for `flowps bench`.
#pragma once

#include "bench/benchmark.h"

namespace flowps::ps {

// `ps-apply`: optimizer updates per second on the ps for one large variable
// (validation, finiteness check and the optimizer, as a push pays them).
// Options: mb (variable size in MB, default 100), seconds (per optimizer,
// default 2), optimizers (comma-separated, default sgd,momentum,adagrad,adam).
Benchmark MakePsApplyBenchmark();

// `pushpull`: dense push and pull of 1, 16, 64 and 256 MiB between a PsClient
// and one ps shard (an RpcServer in this process) over loopback TCP, each
// beside the raw loopback TCP bandwidth of a transfer of the same size
// measured in the same run (the baseline). The push includes the shard's
// validation and an SGD apply (async mode). Options: sizes (MiB, comma-
// separated), reps (per size, default 5), bfloat16 (1: reduced precision).
// It calls KeepLargeBuffersResident (ps/memory_tuning.h) for this process, as
// flowps-ps does.
Benchmark MakePushPullBenchmark();

}  // namespace flowps::ps

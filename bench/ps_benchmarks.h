// The parameter server's benchmarks for `flowps bench`.
#pragma once

#include "bench/benchmark.h"

namespace flowps {

// `ps-apply`: optimizer updates per second on the ps for one large variable
// (validation, finiteness check and the optimizer, as a push pays them).
// Options: mb (variable size in MB, default 100), seconds (per optimizer,
// default 2), optimizers (comma-separated, default sgd,momentum,adagrad,adam).
Benchmark MakePsApplyBenchmark();

// `pushpull`: dense push and pull of 1, 16, 64 and 256 MiB between a PsClient
// and one ps shard (an RpcServer in this process) over loopback TCP, each
// beside the raw loopback TCP bandwidth of a transfer of the same size
// measured in the same run (the baseline). The push includes the shard's
// validation and an SGD apply (async mode); a third figure is one pushPull
// (the push and the variable read back in one call, bytes counted both ways). Options: sizes (MiB, comma-
// separated), reps (per size, default 5), bfloat16 (1: reduced precision).
// It calls KeepLargeBuffersResident (core/memory_tuning.h) for this process, as
// flowps-ps does.
Benchmark MakePushPullBenchmark();

// `ps-memory`: starts a flowps-ps process (beside this binary, or --opt
// ps_binary=PATH), trains one variable [rows, cols] (default 4096 x 4096) with
// `optimizer` (default adam) for `steps` sync pushPull steps (default 20), and
// reports the daemon's RSS above its RSS before any variable existed, over the
// state (variable + optimizer slots): right after the steps, at the peak
// (VmHWM), and after `idle_ms` (default 1500) idle. Goal: idle <= 1.5x.
Benchmark MakePsMemoryBenchmark();

}  // namespace flowps

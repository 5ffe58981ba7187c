// `train`: distributed training of the MLP (784-256-10, adam 0.001, batch 64
// per worker) on Fashion-MNIST with 1 ps and 1, 2, 4 workers, sync and async.
// Every task is an RpcServer of this process on loopback, with the services of
// flowps-ps and flowps-worker (so the processes share this process's compute
// pool), and the chief takes the job as from `flowps submit`. Reports, per
// run, the examples/s of all workers and the seconds until the chief's test
// accuracy first reached the target (-1 if not within max_seconds).
// Options: workers (default 1,2,4), modes (sync,async), target (0.85),
// max_seconds (per run, default 300), data (the Fashion-MNIST folder),
// devices (CPU devices per worker, default 1: the batch is split into that
// many towers; names then end in _<N>dev).
// --opt processes=1: a real local cluster instead (`flowps launch` as a child:
// 1 ps and `workers` workers, default 2, as processes, found next to this
// program or in $FLOWPS_BIN_DIR), a job of `examples` examples (default
// 256000) in each mode, `prefetch=1` for async with mode.prefetch,
// `hidden` the MLP's hidden widths (default 256, e.g. 2048,2048); beside
// `flowps train` of the same job in this process. Reports each mode's
// examples/s (sampled from the workers' status between the first poll where
// all stepped and the last before the end) with the one-process figure as
// baseline, their ratio, a worker's RSS growth (idle to peak) over the
// model's parameter bytes, and the load average.
#pragma once

#include "bench/benchmark.h"

namespace flowps {

Benchmark MakeTrainBenchmark();

}  // namespace flowps

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
#pragma once

#include "bench/benchmark.h"

namespace flowps {

Benchmark MakeTrainBenchmark();

}  // namespace flowps

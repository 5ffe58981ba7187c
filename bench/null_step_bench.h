// `null-step`: the null-step microbenchmark of the TensorFlow paper (OSDI
// 2016, section 6.2). Workers (threads of this process, each with its own
// PsClient and connection) do sync steps against one ps shard (an RpcServer
// in this process, over loopback TCP): pull every variable, push zero
// gradients, wait for the step. Reports worker 0's median step time for a
// scalar model and a dense model (100 MB), with 1 to 4 workers, beside the
// paper's one-worker figures (1.8 ms scalar, 147 ms 100 MB dense).
// Options: workers (comma-separated counts, default 1,2,3,4), models
// (scalar,dense), steps (per run; default 200 scalar, 5 dense), mb (dense size, default 100).
#pragma once

#include "bench/benchmark.h"

namespace flowps {

Benchmark MakeNullStepBenchmark();

}  // namespace flowps

// `null-step`: the null-step microbenchmark of the TensorFlow paper (OSDI
// 2016, section 6.2). Workers (threads of this process, each with its own
// PsClient and connection) do sync steps against one ps shard (an RpcServer
// in this process, over loopback TCP): each step is one pushPull of zero
// gradients that answers with every variable once the step is released.
// Reports worker 0's median step time for a scalar model (beside the raw TCP
// ping-pong round trip measured in the same run) and a dense model (100 MB,
// beside the paper's 147 ms for one worker), with 1 to 4 workers.
// Options: workers (comma-separated counts, default 1,2,3,4), models
// (scalar,dense), steps (per run; default 200 scalar, 5 dense), mb (dense
// size, default 100), floats (dense size in floats, instead of mb),
// path (pushpull | push-wait: the older pull + push + waitForStep step |
// both), inline_below (the ps's ParameterServerOptions::inline_below_bytes).
#pragma once

#include "bench/benchmark.h"

namespace flowps {

Benchmark MakeNullStepBenchmark();

}  // namespace flowps

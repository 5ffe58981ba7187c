// `flowps bench lstm`: one worker gradient step of the built-in lstm_lm
// (LocalModel::ComputeGradients: forward and backward through the unrolled
// layers and the softmax, no optimizer), in milliseconds: the median over
// `steps` steps after a warm-up, on a fixed batch of byte sequences.
// Options (--opt key=value, positive integers): steps (default 20), warmup
// (3), batch (32), unroll (64), layers (4), hidden (256), embedding (64),
// parts (softmax parts, 1), devices (N: requests layer d on cpu:(d mod N) and
// softmax part p on cpu:(p mod N), on a worker of N CPU devices: one
// model-parallel replica; absent, the default: no requests, one device).
#pragma once

#include "bench/benchmark.h"

namespace flowps {

Benchmark MakeLstmBenchmark();

}  // namespace flowps

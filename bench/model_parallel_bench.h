// `flowps bench model-parallel`: the gradient step of a layered LSTM
// (bench/layered_lstm.h; layer d asks for cpu:d) as one model-parallel
// replica on 4 CPU devices, against the same graph with soft placement on 1
// device (the baseline, measured in the same run), in microseconds (median
// after a warm-up). Also the pipelining the 4-device step shows: the share of
// its busy time during which kernels of two or more devices ran at once
// (DeviceSpans over one step).
// Options (--opt key=value): steps (30), warmup (5), batch (64), layers (4),
// time_steps (8), hidden (128), devices (4), trace (a path: the Chrome
// trace-event JSON of that step, one track per device and pool thread).
#pragma once

#include "bench/benchmark.h"

namespace flowps {

Benchmark MakeModelParallelBenchmark();

}  // namespace flowps

// `flowps bench step`: one training step of the MLP 784-256-10 at batch 64
// (forward, backward and the SGD update, in one process on the compute pool),
// in microseconds: the median over many steps after a warm-up.
// Options (--opt key=value): steps (default 300), warmup (default 30),
// batch (default 64), hidden (default 256), devices (N: time instead a
// worker's gradient step, LocalModel::ComputeGradients, with the batch split
// into towers on N CPU devices; no optimizer).
#pragma once

#include "bench/benchmark.h"

namespace flowps {

Benchmark MakeStepBenchmark();

}  // namespace flowps

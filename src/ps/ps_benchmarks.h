// The parameter server's benchmarks for `flowps bench`.
#pragma once

#include "bench/benchmark.h"

namespace flowps::ps {

// `ps-apply`: optimizer updates per second on the ps for one large variable
// (validation, finiteness check and the optimizer, as a push pays them).
// Options: mb (variable size in MB, default 100), seconds (per optimizer,
// default 2), optimizers (comma-separated, default sgd,momentum,adagrad,adam).
Benchmark MakePsApplyBenchmark();

}  // namespace flowps::ps

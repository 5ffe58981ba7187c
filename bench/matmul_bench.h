// `flowps bench matmul`: MatMul GFLOP/s through the executor and the kernel,
// beside Eigen's own GEMM called directly in the same run.
//
// Options (--opt key=value): sizes=256,1024,2048 (square sizes), seconds=1
// (time spent per measurement, at least 3 runs), device=cpu:0 (or gpu:<N>:
// see gpu_matmul_bench.h). Measurements on the CPU, per size n:
//   matmul_<n>_gflops_1thread   executor on a 1-thread pool   vs eigen_gemm (one thread)
//   matmul_<n>_gflops_<T>threads executor on the process pool vs Eigen's tensor
//                               contraction on a ThreadPoolDevice of T threads
// Each value is the median over the runs; the executor figures include feeding,
// scheduling and the shape checks of a one-node step.
#pragma once

#include "bench/benchmark.h"

namespace flowps {

Benchmark MakeMatmulBenchmark();

}  // namespace flowps

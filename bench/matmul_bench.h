// `flowps bench matmul`: MatMul GFLOP/s through the executor and the kernel,
// beside OpenBLAS's SGEMM and Eigen's own GEMM called directly in the same run.
//
// Options (--opt key=value): sizes=256,1024,2048 (square sizes), seconds=1
// (time spent per measurement, at least 3 runs), device=cpu:0 (or gpu:<N>:
// see gpu_matmul_bench.h). Measurements on the CPU, per size n, T the compute
// pool's threads:
//   matmul_<n>_gflops_1thread    executor on a 1-thread pool  vs openblas_sgemm (OpenBLAS on 1 thread)
//   matmul_<n>_gflops_<T>threads executor on the process pool vs openblas_sgemm on T OpenBLAS threads
//   matmul_eigen_<n>_gflops_1thread    the kernel's Eigen engine, 1 thread vs eigen_gemm (Eigen::Matrix product)
//   matmul_eigen_<n>_gflops_<T>threads the kernel's Eigen engine on the pool vs Eigen's tensor
//                                      contraction on a ThreadPoolDevice of T threads
// The executor figures use the kernel's default engine (OpenBLAS when built
// with it) and include feeding, scheduling and the shape checks of a one-node
// step. Without OpenBLAS the openblas baselines are left out. Each value is
// the median over the runs.
#pragma once

#include "bench/benchmark.h"

namespace flowps {

Benchmark MakeMatmulBenchmark();

}  // namespace flowps

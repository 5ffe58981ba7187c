// `flowps bench matmul --opt device=gpu:N`: MatMul GFLOP/s on GPU N through
// the executor (cuBLAS behind the op's GPU kernel), beside cublasSgemm called
// directly in the same run. Per size n:
//   matmul_<n>_gflops_gpu<N>   a one-node step on device tensors, then a stream sync
//                              vs cublas_sgemm_<n>_gflops_gpu<N> (sgemm + stream sync)
// Refuses with FailedPrecondition naming the reason when flowps was built
// without CUDA or no usable GPU N is present.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/benchmark.h"

namespace flowps {

// Median GFLOP/s of `run` (one n x n x n product per call) over at least 3
// runs and about `seconds`, after one warm-up run (matmul_bench.cc).
StatusOr<double> MedianGflops(int64_t n, double seconds, const std::function<Status()>& run);

// REQUIRES: device is "gpu:<index>".
Status RunGpuMatmul(BenchContext& ctx, const std::string& device, const std::vector<int64_t>& sizes, double seconds);

}  // namespace flowps

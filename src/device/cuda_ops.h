// The CUDA kernels of the standard ops (built only with CUDA; see
// gpu_config.h). RegisterCudaKernels adds a DeviceType::kGPU kernel to each op
// it covers; an Executor made with a GpuDevice then runs them. GPU kernels
// take device tensors (Tensor::on_device()) of their executor's GPU and give
// device tensors back; the Send/Recv kernels copy across the host boundary,
// so a partitioned graph (graph/partition.h) moves tensors between CPU and GPU
// partitions with no extra copy ops.
#pragma once

#include "core/status.h"
#include "core/tensor.h"
#include "graph/op_registry.h"

namespace flowps {

class GpuDevice;

// REQUIRES: RegisterStandardOps(registry) ran first. Fails only if one of the
// covered ops is missing from the registry.
Status RegisterCudaKernels(OpRegistry* registry);

// C = op(A) op(B) with cuBLAS on `device` (row-major via the transposition
// trick: C^T = op(B)^T op(A)^T in cuBLAS's column-major view). Device tensors
// of that GPU in and out; enqueued on its stream (not waited for).
StatusOr<Tensor> CublasMatMul(GpuDevice& device, const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b);

}  // namespace flowps

// Launchers of the CUDA kernels, on raw device pointers and one stream. Each
// enqueues its kernel(s) and returns cudaGetLastError() (a launch error, such
// as an invalid configuration or a missing kernel image for this GPU). The
// per-element arithmetic is kernels/elementwise_functors.h and
// kernels/per_element.h, shared with the CPU path. Compiled by nvcc; used only
// by the host code of device/ (cuda_ops.cc, gpu_device.cc).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/per_element.h"

namespace flowps::cuda {

// Element-wise ops, by the numbering of kernels::UnaryOp / kernels::BinaryOp.
cudaError_t LaunchUnary(int op, const float* x, float* y, int64_t n, cudaStream_t stream);
cudaError_t LaunchBinary(int op, const kernels::BroadcastIndex& idx, const float* a, const float* b, float* out,
                         int64_t n, cudaStream_t stream);
// out[i] = x[offset a of i] * scale over the index space of idx.
cudaError_t LaunchBroadcast(const kernels::BroadcastIndex& idx, const float* x, float scale, float* out, int64_t n,
                            cudaStream_t stream);
cudaError_t LaunchFill(float value, float* out, int64_t n, cudaStream_t stream);
// One output element per kept index of r.
cudaError_t LaunchReduce(const kernels::ReduceIndex& r, kernels::ReduceKind kind, const float* x, float* out,
                         int64_t n_out, cudaStream_t stream);

cudaError_t LaunchSoftmax(const float* x, int64_t rows, int64_t c, float* y, cudaStream_t stream);
// labels int32 (labels64 false) or int64 [rows]; sets *bad (device) to 1 if a
// label is outside [0, c).
cudaError_t LaunchCrossEntropy(const float* x, const void* labels, bool labels64, int64_t rows, int64_t c,
                               float* loss, float* backprop, int* bad, cudaStream_t stream);

// A split softmax's pieces (kernels/nn_kernels.h): y[i] = LogSumExpRow of row i;
// out[i] = PickColumnAt (sets *bad for a label outside [0, vocab));
// dx [rows, c] = PickColumnGradAt.
cudaError_t LaunchLogSumExp(const float* x, int64_t rows, int64_t c, float* y, cudaStream_t stream);
cudaError_t LaunchPickColumn(const float* x, int64_t rows, int64_t c, const void* labels, bool labels64,
                             int64_t offset, int64_t vocab, float* out, int* bad, cudaStream_t stream);
cudaError_t LaunchPickColumnGrad(const float* dy, int64_t rows, int64_t c, const void* labels, bool labels64,
                                 int64_t offset, float* dx, cudaStream_t stream);

// Rows of `row` elements of `elem_size` (4 or 8) bytes picked by indices
// (int32 or int64, n_indices of them); *bad = 1 for an index outside [0, rows).
cudaError_t LaunchGather(const void* params, int elem_size, int64_t rows, int64_t row, const void* indices,
                         bool indices64, int64_t n_indices, void* out, int* bad, cudaStream_t stream);
// out [rows, row] = 0, then out[indices[i]] += values[i]; *bad as for Gather.
cudaError_t LaunchScatterRowsAdd(const void* indices, bool indices64, int64_t n_indices, const float* values,
                                 int64_t rows, int64_t row, float* out, int* bad, cudaStream_t stream);

// Copies between a box of a tensor and a whole one, elements of `elem_size`
// (2, 4 or 8) bytes, n = the box's element count. FromBox: out[i] =
// x[BoxOffset(box, i)] (Slice, Split). IntoBox: out[BoxOffset(box, i)] = x[i]
// (Concat, SliceGrad).
cudaError_t LaunchCopyFromBox(const kernels::Box& box, const void* x, int elem_size, void* out, int64_t n,
                              cudaStream_t stream);
cudaError_t LaunchCopyIntoBox(const kernels::Box& box, const void* x, int elem_size, void* out, int64_t n,
                              cudaStream_t stream);

cudaError_t LaunchConv2D(const kernels::WindowGeometry& g, const float* x, const float* f, float* y,
                         cudaStream_t stream);
cudaError_t LaunchConv2DBackpropInput(const kernels::WindowGeometry& g, const float* f, const float* dy, float* dx,
                                      cudaStream_t stream);
cudaError_t LaunchConv2DBackpropFilter(const kernels::WindowGeometry& g, const float* x, const float* dy, float* df,
                                       cudaStream_t stream);
cudaError_t LaunchMaxPool(const kernels::WindowGeometry& g, const float* x, float* y, cudaStream_t stream);
// dx = 0, then each dy goes to its window's max.
cudaError_t LaunchMaxPoolGrad(const kernels::WindowGeometry& g, const float* x, const float* dy, float* dx,
                              cudaStream_t stream);

}  // namespace flowps::cuda

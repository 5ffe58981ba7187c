// The CUDA kernels: one thread per output element (grid-stride loops), the
// arithmetic from kernels/elementwise_functors.h and kernels/per_element.h.
#include "device/cuda_kernels.h"

#include "kernels/elementwise_functors.h"
#include "kernels/math_kernels.h"
#include "kernels/per_element.h"

namespace flowps::cuda {
namespace {

using namespace flowps::kernels;

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 4096;

int Blocks(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 1 ? 1 : (b > kMaxBlocks ? kMaxBlocks : b));
}

__device__ int64_t FirstIndex() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ int64_t GridStride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

template <typename F>
__global__ void UnaryKernel(F f, const float* x, float* y, int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) y[i] = f(x[i]);
}

template <typename F>
__global__ void BinaryKernel(F f, BroadcastIndex idx, const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) out[i] = BinaryAt(idx, a, b, i, f);
}

__global__ void BroadcastKernel(BroadcastIndex idx, const float* x, float scale, float* out, int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) {
    int64_t oa, ob;
    BroadcastOffsets(idx, i, &oa, &ob);
    out[i] = x[oa] * scale;
  }
}

__global__ void FillKernel(float value, float* out, int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) out[i] = value;
}

__global__ void ReduceKernel(ReduceIndex r, ReduceKind kind, const float* x, float* out, int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) out[i] = ReduceAt(r, x, i, kind);
}

__global__ void SoftmaxKernel(const float* x, int64_t rows, int64_t c, float* y) {
  for (int64_t i = FirstIndex(); i < rows; i += GridStride()) SoftmaxRow(x + i * c, c, y + i * c);
}

template <typename Index>
__global__ void CrossEntropyKernel(const float* x, const Index* labels, int64_t rows, int64_t c, float* loss,
                                   float* backprop, int* bad) {
  for (int64_t i = FirstIndex(); i < rows; i += GridStride()) {
    const int64_t label = static_cast<int64_t>(labels[i]);
    if (label < 0 || label >= c) {
      *bad = 1;
      loss[i] = 0.f;
      continue;
    }
    loss[i] = CrossEntropyRow(x + i * c, c, label, backprop + i * c);
  }
}

__global__ void LogSumExpKernel(const float* x, int64_t rows, int64_t c, float* y) {
  for (int64_t i = FirstIndex(); i < rows; i += GridStride()) y[i] = LogSumExpRow(x + i * c, c);
}

template <typename Index>
__global__ void PickColumnKernel(const float* x, int64_t rows, int64_t c, const Index* labels, int64_t offset,
                                 int64_t vocab, float* out, int* bad) {
  for (int64_t i = FirstIndex(); i < rows; i += GridStride()) {
    bool outside = false;
    out[i] = PickColumnAt(x, c, labels, offset, vocab, i, &outside);
    if (outside) *bad = 1;
  }
}

template <typename Index>
__global__ void PickColumnGradKernel(const float* dy, int64_t c, const Index* labels, int64_t offset, float* dx,
                                     int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) dx[i] = PickColumnGradAt(dy, c, labels, offset, i);
}

template <typename T, typename Index>
__global__ void GatherKernel(const T* params, int64_t rows, int64_t row, const Index* indices, int64_t n, T* out,
                             int* bad) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) {
    const int64_t at = GatherOffset(indices, rows, row, i);
    if (at < 0) {
      *bad = 1;
      out[i] = T{};
    } else {
      out[i] = params[at];
    }
  }
}

template <typename Index>
__global__ void ScatterRowsAddKernel(const Index* indices, const float* values, int64_t rows, int64_t row, int64_t n,
                                     float* out, int* bad) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) {
    const int64_t at = GatherOffset(indices, rows, row, i);
    if (at < 0) *bad = 1;
    else atomicAdd(out + at, values[i]);
  }
}

template <typename T, bool kInto>
__global__ void BoxCopyKernel(Box box, const T* x, T* out, int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) {
    if (kInto) out[BoxOffset(box, i)] = x[i];
    else out[i] = x[BoxOffset(box, i)];
  }
}

template <bool kInto>
cudaError_t BoxCopy(const Box& box, const void* x, int elem_size, void* out, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  auto launch = [&](auto* elem) {
    using T = std::remove_pointer_t<decltype(elem)>;
    BoxCopyKernel<T, kInto><<<Blocks(n), kThreads, 0, s>>>(box, static_cast<const T*>(x), static_cast<T*>(out), n);
  };
  if (elem_size == 2) launch(static_cast<uint16_t*>(nullptr));
  else if (elem_size == 4) launch(static_cast<uint32_t*>(nullptr));
  else if (elem_size == 8) launch(static_cast<uint64_t*>(nullptr));
  else return cudaErrorInvalidValue;
  return cudaGetLastError();
}

__global__ void Conv2DKernel(WindowGeometry g, const float* x, const float* f, float* y, int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) y[i] = Conv2DAt(g, x, f, i);
}
__global__ void Conv2DBackpropInputKernel(WindowGeometry g, const float* f, const float* dy, float* dx, int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) dx[i] = Conv2DBackpropInputAt(g, f, dy, i);
}
__global__ void Conv2DBackpropFilterKernel(WindowGeometry g, const float* x, const float* dy, float* df, int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) df[i] = Conv2DBackpropFilterAt(g, x, dy, i);
}
__global__ void MaxPoolKernel(WindowGeometry g, const float* x, float* y, int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) {
    const int64_t at = MaxPoolArgMax(g, x, i);
    y[i] = at < 0 ? 0.f : x[at];
  }
}
__global__ void MaxPoolGradKernel(WindowGeometry g, const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) {
    const int64_t at = MaxPoolArgMax(g, x, i);
    if (at >= 0) atomicAdd(dx + at, dy[i]);
  }
}

template <typename F>
cudaError_t Unary(F f, const float* x, float* y, int64_t n, cudaStream_t s) {
  UnaryKernel<<<Blocks(n), kThreads, 0, s>>>(f, x, y, n);
  return cudaGetLastError();
}

template <typename F>
cudaError_t Binary(F f, const BroadcastIndex& idx, const float* a, const float* b, float* out, int64_t n,
                   cudaStream_t s) {
  BinaryKernel<<<Blocks(n), kThreads, 0, s>>>(f, idx, a, b, out, n);
  return cudaGetLastError();
}

int64_t Elements(const WindowGeometry& g, bool input) {
  return input ? g.n * g.h * g.w * g.c : g.n * g.oh * g.ow * g.o;
}

}  // namespace

cudaError_t LaunchUnary(int op, const float* x, float* y, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  switch (static_cast<UnaryOp>(op)) {
    case UnaryOp::kNeg: return Unary(NegFn(), x, y, n, s);
    case UnaryOp::kSquare: return Unary(SquareFn(), x, y, n, s);
    case UnaryOp::kSqrt: return Unary(SqrtFn(), x, y, n, s);
    case UnaryOp::kExp: return Unary(ExpFn(), x, y, n, s);
    case UnaryOp::kLog: return Unary(LogFn(), x, y, n, s);
    case UnaryOp::kRelu: return Unary(ReluFn(), x, y, n, s);
    case UnaryOp::kSigmoid: return Unary(SigmoidFn(), x, y, n, s);
    case UnaryOp::kTanh: return Unary(TanhFn(), x, y, n, s);
  }
  return cudaErrorInvalidValue;
}

cudaError_t LaunchBinary(int op, const BroadcastIndex& idx, const float* a, const float* b, float* out, int64_t n,
                         cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  switch (static_cast<BinaryOp>(op)) {
    case BinaryOp::kAdd: return Binary(AddFn(), idx, a, b, out, n, s);
    case BinaryOp::kSub: return Binary(SubFn(), idx, a, b, out, n, s);
    case BinaryOp::kMul: return Binary(MulFn(), idx, a, b, out, n, s);
    case BinaryOp::kDiv: return Binary(DivFn(), idx, a, b, out, n, s);
    case BinaryOp::kReluGrad: return Binary(ReluGradFn(), idx, a, b, out, n, s);
    case BinaryOp::kSigmoidGrad: return Binary(SigmoidGradFn(), idx, a, b, out, n, s);
    case BinaryOp::kTanhGrad: return Binary(TanhGradFn(), idx, a, b, out, n, s);
    case BinaryOp::kSqrtGrad: return Binary(SqrtGradFn(), idx, a, b, out, n, s);
  }
  return cudaErrorInvalidValue;
}

cudaError_t LaunchBroadcast(const BroadcastIndex& idx, const float* x, float scale, float* out, int64_t n,
                            cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  BroadcastKernel<<<Blocks(n), kThreads, 0, s>>>(idx, x, scale, out, n);
  return cudaGetLastError();
}

cudaError_t LaunchFill(float value, float* out, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  FillKernel<<<Blocks(n), kThreads, 0, s>>>(value, out, n);
  return cudaGetLastError();
}

cudaError_t LaunchReduce(const ReduceIndex& r, ReduceKind kind, const float* x, float* out, int64_t n_out,
                         cudaStream_t s) {
  if (n_out == 0) return cudaSuccess;
  ReduceKernel<<<Blocks(n_out), kThreads, 0, s>>>(r, kind, x, out, n_out);
  return cudaGetLastError();
}

cudaError_t LaunchSoftmax(const float* x, int64_t rows, int64_t c, float* y, cudaStream_t s) {
  if (rows == 0 || c == 0) return cudaSuccess;
  SoftmaxKernel<<<Blocks(rows), kThreads, 0, s>>>(x, rows, c, y);
  return cudaGetLastError();
}

cudaError_t LaunchCrossEntropy(const float* x, const void* labels, bool labels64, int64_t rows, int64_t c, float* loss,
                               float* backprop, int* bad, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  if (labels64)
    CrossEntropyKernel<<<Blocks(rows), kThreads, 0, s>>>(x, static_cast<const int64_t*>(labels), rows, c, loss,
                                                          backprop, bad);
  else
    CrossEntropyKernel<<<Blocks(rows), kThreads, 0, s>>>(x, static_cast<const int32_t*>(labels), rows, c, loss,
                                                          backprop, bad);
  return cudaGetLastError();
}

cudaError_t LaunchLogSumExp(const float* x, int64_t rows, int64_t c, float* y, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  LogSumExpKernel<<<Blocks(rows), kThreads, 0, s>>>(x, rows, c, y);
  return cudaGetLastError();
}

cudaError_t LaunchPickColumn(const float* x, int64_t rows, int64_t c, const void* labels, bool labels64,
                             int64_t offset, int64_t vocab, float* out, int* bad, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  if (labels64)
    PickColumnKernel<<<Blocks(rows), kThreads, 0, s>>>(x, rows, c, static_cast<const int64_t*>(labels), offset, vocab,
                                                        out, bad);
  else
    PickColumnKernel<<<Blocks(rows), kThreads, 0, s>>>(x, rows, c, static_cast<const int32_t*>(labels), offset, vocab,
                                                        out, bad);
  return cudaGetLastError();
}

cudaError_t LaunchPickColumnGrad(const float* dy, int64_t rows, int64_t c, const void* labels, bool labels64,
                                 int64_t offset, float* dx, cudaStream_t s) {
  const int64_t n = rows * c;
  if (n == 0) return cudaSuccess;
  if (labels64)
    PickColumnGradKernel<<<Blocks(n), kThreads, 0, s>>>(dy, c, static_cast<const int64_t*>(labels), offset, dx, n);
  else
    PickColumnGradKernel<<<Blocks(n), kThreads, 0, s>>>(dy, c, static_cast<const int32_t*>(labels), offset, dx, n);
  return cudaGetLastError();
}

cudaError_t LaunchGather(const void* params, int elem_size, int64_t rows, int64_t row, const void* indices,
                         bool indices64, int64_t n_indices, void* out, int* bad, cudaStream_t s) {
  const int64_t n = n_indices * row;
  if (n == 0) return cudaSuccess;
  auto launch = [&](auto* elem) {
    using T = std::remove_pointer_t<decltype(elem)>;
    if (indices64)
      GatherKernel<<<Blocks(n), kThreads, 0, s>>>(static_cast<const T*>(params), rows, row,
                                                  static_cast<const int64_t*>(indices), n, static_cast<T*>(out), bad);
    else
      GatherKernel<<<Blocks(n), kThreads, 0, s>>>(static_cast<const T*>(params), rows, row,
                                                  static_cast<const int32_t*>(indices), n, static_cast<T*>(out), bad);
  };
  if (elem_size == 4) launch(static_cast<uint32_t*>(nullptr));
  else if (elem_size == 8) launch(static_cast<uint64_t*>(nullptr));
  else return cudaErrorInvalidValue;
  return cudaGetLastError();
}

cudaError_t LaunchScatterRowsAdd(const void* indices, bool indices64, int64_t n_indices, const float* values,
                                 int64_t rows, int64_t row, float* out, int* bad, cudaStream_t s) {
  cudaError_t e = cudaMemsetAsync(out, 0, static_cast<size_t>(rows * row) * sizeof(float), s);
  if (e != cudaSuccess) return e;
  const int64_t n = n_indices * row;
  if (n == 0) return cudaSuccess;
  if (indices64)
    ScatterRowsAddKernel<<<Blocks(n), kThreads, 0, s>>>(static_cast<const int64_t*>(indices), values, rows, row, n,
                                                        out, bad);
  else
    ScatterRowsAddKernel<<<Blocks(n), kThreads, 0, s>>>(static_cast<const int32_t*>(indices), values, rows, row, n,
                                                        out, bad);
  return cudaGetLastError();
}

cudaError_t LaunchCopyFromBox(const Box& box, const void* x, int elem_size, void* out, int64_t n, cudaStream_t s) {
  return BoxCopy<false>(box, x, elem_size, out, n, s);
}

cudaError_t LaunchCopyIntoBox(const Box& box, const void* x, int elem_size, void* out, int64_t n, cudaStream_t s) {
  return BoxCopy<true>(box, x, elem_size, out, n, s);
}

cudaError_t LaunchConv2D(const WindowGeometry& g, const float* x, const float* f, float* y, cudaStream_t s) {
  const int64_t n = Elements(g, false);
  if (n == 0) return cudaSuccess;
  Conv2DKernel<<<Blocks(n), kThreads, 0, s>>>(g, x, f, y, n);
  return cudaGetLastError();
}

cudaError_t LaunchConv2DBackpropInput(const WindowGeometry& g, const float* f, const float* dy, float* dx,
                                      cudaStream_t s) {
  const int64_t n = Elements(g, true);
  if (n == 0) return cudaSuccess;
  Conv2DBackpropInputKernel<<<Blocks(n), kThreads, 0, s>>>(g, f, dy, dx, n);
  return cudaGetLastError();
}

cudaError_t LaunchConv2DBackpropFilter(const WindowGeometry& g, const float* x, const float* dy, float* df,
                                       cudaStream_t s) {
  const int64_t n = g.kh * g.kw * g.c * g.o;
  if (n == 0) return cudaSuccess;
  Conv2DBackpropFilterKernel<<<Blocks(n), kThreads, 0, s>>>(g, x, dy, df, n);
  return cudaGetLastError();
}

cudaError_t LaunchMaxPool(const WindowGeometry& g, const float* x, float* y, cudaStream_t s) {
  const int64_t n = Elements(g, false);
  if (n == 0) return cudaSuccess;
  MaxPoolKernel<<<Blocks(n), kThreads, 0, s>>>(g, x, y, n);
  return cudaGetLastError();
}

cudaError_t LaunchMaxPoolGrad(const WindowGeometry& g, const float* x, const float* dy, float* dx, cudaStream_t s) {
  cudaError_t e = cudaMemsetAsync(dx, 0, static_cast<size_t>(Elements(g, true)) * sizeof(float), s);
  if (e != cudaSuccess) return e;
  const int64_t n = Elements(g, false);
  if (n == 0) return cudaSuccess;
  MaxPoolGradKernel<<<Blocks(n), kThreads, 0, s>>>(g, x, dy, dx, n);
  return cudaGetLastError();
}

}  // namespace flowps::cuda

// Per-element arithmetic of the element-wise ops and of their derivatives, as
// inline functors usable from host code and, under nvcc, from device code. The
// CPU kernels (math_kernels.cc) call these through Eigen's unaryExpr /
// binaryExpr, or use Eigen's vectorised expression where it computes the same
// function; a CUDA build reuses exactly these definitions.
#pragma once

#include <cmath>

#ifdef __CUDACC__
#define FLOWPS_HOST_DEVICE __host__ __device__
#else
#define FLOWPS_HOST_DEVICE
#endif

namespace flowps::kernels {

struct AddFn {
  FLOWPS_HOST_DEVICE float operator()(float a, float b) const { return a + b; }
};
struct SubFn {
  FLOWPS_HOST_DEVICE float operator()(float a, float b) const { return a - b; }
};
struct MulFn {
  FLOWPS_HOST_DEVICE float operator()(float a, float b) const { return a * b; }
};
struct DivFn {
  FLOWPS_HOST_DEVICE float operator()(float a, float b) const { return a / b; }
};

struct NegFn {
  FLOWPS_HOST_DEVICE float operator()(float x) const { return -x; }
};
struct SquareFn {
  FLOWPS_HOST_DEVICE float operator()(float x) const { return x * x; }
};
struct SqrtFn {
  FLOWPS_HOST_DEVICE float operator()(float x) const { return sqrtf(x); }
};
struct ExpFn {
  FLOWPS_HOST_DEVICE float operator()(float x) const { return expf(x); }
};
struct LogFn {
  FLOWPS_HOST_DEVICE float operator()(float x) const { return logf(x); }
};
// NaN stays NaN (as in TensorFlow and PyTorch): a diverging model must not look finite.
struct ReluFn {
  FLOWPS_HOST_DEVICE float operator()(float x) const { return x > 0.f || x != x ? x : 0.f; }
};
struct SigmoidFn {
  FLOWPS_HOST_DEVICE float operator()(float x) const { return 1.f / (1.f + expf(-x)); }
};
struct TanhFn {
  FLOWPS_HOST_DEVICE float operator()(float x) const { return tanhf(x); }
};

// The max-type ops (ReduceMax, ArgMax, MaxPool) propagate NaN, as TensorFlow
// and PyTorch do: a NaN wins over every number, the first NaN over later ones.
// True when `v` takes the place of the current `best`.
FLOWPS_HOST_DEVICE inline bool TakesMax(float v, float best) { return v > best || (v != v && best == best); }
// max(a, b), NaN if either is NaN.
struct MaxNanFn {
  FLOWPS_HOST_DEVICE float operator()(float a, float b) const { return TakesMax(b, a) ? b : a; }
};

// Derivatives, in TensorFlow's argument order.
// ReluGrad(dy, x): dy where x > 0, NaN where x is NaN, else 0.
struct ReluGradFn {
  FLOWPS_HOST_DEVICE float operator()(float dy, float x) const { return x > 0.f ? dy : (x != x ? x : 0.f); }
};
// SigmoidGrad(y, dy) with y = sigmoid(x): dy * y * (1 - y).
struct SigmoidGradFn {
  FLOWPS_HOST_DEVICE float operator()(float y, float dy) const { return dy * y * (1.f - y); }
};
// TanhGrad(y, dy) with y = tanh(x): dy * (1 - y^2).
struct TanhGradFn {
  FLOWPS_HOST_DEVICE float operator()(float y, float dy) const { return dy * (1.f - y * y); }
};
// SqrtGrad(y, dy) with y = sqrt(x): dy / (2 y).
struct SqrtGradFn {
  FLOWPS_HOST_DEVICE float operator()(float y, float dy) const { return dy * 0.5f / y; }
};

}  // namespace flowps::kernels

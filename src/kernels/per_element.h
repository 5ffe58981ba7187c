// The per-output-element arithmetic of the ops whose GPU kernels run one
// thread per output element: broadcasting, reductions, softmax rows, the
// sparse cross-entropy, gathers, convolution and max pooling. Plain structs of
// fixed size (passed by value to CUDA kernels) and FLOWPS_HOST_DEVICE inline
// functions, so the host tests run exactly what the GPU runs and compare it
// with the Eigen kernels. No allocation, no std containers, no Eigen.
// Thread safety: pure functions.
#pragma once

#include <cstdint>

#include "kernels/elementwise_functors.h"

namespace flowps::kernels {

// The highest rank the per-element index arithmetic supports.
constexpr int kMaxElementRank = 8;

// The index space of an output of `rank` dims, and for up to two operands
// their element strides along each output dim (0 where broadcast).
struct BroadcastIndex {
  int rank = 0;
  int64_t dims[kMaxElementRank] = {};
  int64_t a[kMaxElementRank] = {};
  int64_t b[kMaxElementRank] = {};
};

// Offsets of operands a and b for the output element at linear index i.
FLOWPS_HOST_DEVICE inline void BroadcastOffsets(const BroadcastIndex& s, int64_t i, int64_t* oa, int64_t* ob) {
  int64_t ra = 0, rb = 0;
  for (int d = s.rank - 1; d >= 0; --d) {
    const int64_t k = i % s.dims[d];
    i /= s.dims[d];
    ra += k * s.a[d];
    rb += k * s.b[d];
  }
  *oa = ra;
  *ob = rb;
}

// out[i] = f(a[.], b[.]) with broadcasting.
template <typename F>
FLOWPS_HOST_DEVICE inline float BinaryAt(const BroadcastIndex& s, const float* a, const float* b, int64_t i, F f) {
  int64_t oa, ob;
  BroadcastOffsets(s, i, &oa, &ob);
  return f(a[oa], b[ob]);
}

// A reduction of an input of `rank` dims over the axes flagged `reduced`.
// Output element `out` indexes the kept (non-reduced) dims in row-major order;
// `j` in [0, count) indexes the reduced dims.
struct ReduceIndex {
  int rank = 0;
  int64_t dims[kMaxElementRank] = {};
  int64_t strides[kMaxElementRank] = {};
  unsigned char reduced[kMaxElementRank] = {};
  int64_t count = 1;  // product of the reduced dims
};

FLOWPS_HOST_DEVICE inline int64_t ReduceInputOffset(const ReduceIndex& r, int64_t out, int64_t j) {
  int64_t off = 0;
  for (int d = r.rank - 1; d >= 0; --d) {
    if (r.reduced[d]) {
      off += (j % r.dims[d]) * r.strides[d];
      j /= r.dims[d];
    } else {
      off += (out % r.dims[d]) * r.strides[d];
      out /= r.dims[d];
    }
  }
  return off;
}

enum class ReduceKind : int { kSum = 0, kMean = 1, kMax = 2 };

// A float sum in pairwise order: the rounding error grows with log(n), not
// with n as in one sequential chain (10^6 copies of 0.1 sum to 100958.34 in a
// chain, 100000.0 here). Values are added in runs of kRun; the runs' sums are
// merged like the carries of a binary counter, so the state is fixed-size.
struct PairwiseSum {
  static constexpr int kRun = 8;
  float partial[64] = {};  // partial[d]: the sum of 2^k runs, larger k deeper down
  int depth = 0;
  int64_t runs = 0;
  float run = 0.f;
  int in_run = 0;

  FLOWPS_HOST_DEVICE void Add(float v) {
    run += v;
    if (++in_run < kRun) return;
    float s = run;
    run = 0.f;
    in_run = 0;
    for (int64_t c = ++runs; (c & 1) == 0; c >>= 1) s = partial[--depth] + s;
    partial[depth++] = s;
  }
  FLOWPS_HOST_DEVICE float Total() const {
    float s = run;
    for (int d = depth - 1; d >= 0; --d) s = partial[d] + s;
    return s;
  }
};

// The reduction of x over the reduced dims for kept element `out`: a pairwise
// sum (kSum, kMean) or a max that propagates NaN (kMax).
FLOWPS_HOST_DEVICE inline float ReduceAt(const ReduceIndex& r, const float* x, int64_t out, ReduceKind kind) {
  if (kind == ReduceKind::kMax) {
    float acc = -INFINITY;
    for (int64_t j = 0; j < r.count; ++j) acc = MaxNanFn()(acc, x[ReduceInputOffset(r, out, j)]);
    return acc;
  }
  PairwiseSum sum;
  for (int64_t j = 0; j < r.count; ++j) sum.Add(x[ReduceInputOffset(r, out, j)]);
  float acc = sum.Total();
  if (kind == ReduceKind::kMean && r.count > 0) acc /= static_cast<float>(r.count);
  return acc;
}

// A box inside a row-major tensor: element i of the box (row-major over its
// `dims`) is element BoxOffset(b, i) of the tensor, whose element strides are
// `strides`; `base` is the box's first element. Slice and Split copy out of a
// box, Concat and SliceGrad into one.
struct Box {
  int rank = 0;
  int64_t dims[kMaxElementRank] = {};
  int64_t strides[kMaxElementRank] = {};
  int64_t base = 0;
};

FLOWPS_HOST_DEVICE inline int64_t BoxOffset(const Box& b, int64_t i) {
  int64_t off = b.base;
  for (int d = b.rank - 1; d >= 0; --d) {
    off += (i % b.dims[d]) * b.strides[d];
    i /= b.dims[d];
  }
  return off;
}

// Softmax of one row of c logits into y; returns log(sum(exp(x))), computed
// stably (the max subtracted first) and summed pairwise (rows of a large
// vocabulary). A NaN logit makes the row NaN.
FLOWPS_HOST_DEVICE inline float SoftmaxRow(const float* x, int64_t c, float* y) {
  float m = -INFINITY;
  for (int64_t k = 0; k < c; ++k) m = MaxNanFn()(m, x[k]);
  PairwiseSum pairwise;
  ExpFn exp_fn;
  for (int64_t k = 0; k < c; ++k) {
    y[k] = exp_fn(x[k] - m);
    pairwise.Add(y[k]);
  }
  const float sum = pairwise.Total();
  for (int64_t k = 0; k < c; ++k) y[k] /= sum;
  return LogFn()(sum) + m;
}

// The sparse softmax cross-entropy of one row: writes softmax - onehot(label)
// into backprop and returns the loss. REQUIRES: 0 <= label < c.
FLOWPS_HOST_DEVICE inline float CrossEntropyRow(const float* x, int64_t c, int64_t label, float* backprop) {
  const float log_sum = SoftmaxRow(x, c, backprop);
  backprop[label] -= 1.f;
  return log_sum - x[label];
}

// log(sum(exp(x))) of one row of c values, computed stably (the max
// subtracted first, the exps summed pairwise): -inf for an empty row or a row
// of -inf, +inf when a value is +inf, NaN when one is NaN. One part's term of a
// split softmax's normaliser (LogSumExp).
FLOWPS_HOST_DEVICE inline float LogSumExpRow(const float* x, int64_t c) {
  float m = -INFINITY;
  for (int64_t k = 0; k < c; ++k) m = MaxNanFn()(m, x[k]);
  if (m == INFINITY || m == -INFINITY || m != m) return m;
  PairwiseSum pairwise;
  ExpFn exp_fn;
  for (int64_t k = 0; k < c; ++k) pairwise.Add(exp_fn(x[k] - m));
  return LogFn()(pairwise.Total()) + m;
}

// PickColumn of a split softmax's part: the part holds columns [offset,
// offset + c) of the vocabulary; row i's label picks x[i, label - offset], or
// 0 when the label is another part's. Returns the element of row i; *bad when
// the label is outside [0, vocab).
template <typename Index>
FLOWPS_HOST_DEVICE inline float PickColumnAt(const float* x, int64_t c, const Index* labels, int64_t offset,
                                             int64_t vocab, int64_t i, bool* bad) {
  const int64_t label = static_cast<int64_t>(labels[i]);
  *bad = label < 0 || label >= vocab;
  const int64_t k = label - offset;
  return k >= 0 && k < c ? x[i * c + k] : 0.f;
}

// Its gradient: element i of dx [rows, c] is dy[row] where its column is the
// row's label, else 0.
template <typename Index>
FLOWPS_HOST_DEVICE inline float PickColumnGradAt(const float* dy, int64_t c, const Index* labels, int64_t offset,
                                                 int64_t i) {
  const int64_t row = i / c;
  return static_cast<int64_t>(labels[row]) - offset == i % c ? dy[row] : 0.f;
}

// Gather: output element i of rows of `row` elements picked by indices.
// Returns the params offset, or -1 when the index is out of [0, rows).
template <typename Index>
FLOWPS_HOST_DEVICE inline int64_t GatherOffset(const Index* indices, int64_t rows, int64_t row, int64_t i) {
  const int64_t r = static_cast<int64_t>(indices[i / row]);
  if (r < 0 || r >= rows) return -1;
  return r * row + i % row;
}

// The geometry of an NHWC conv or pool: input [n,h,w,c], output [n,oh,ow,o]
// (o == c for pooling), window kh x kw with strides sh, sw and padding before.
struct WindowGeometry {
  int64_t n = 0, h = 0, w = 0, c = 0, oh = 0, ow = 0, o = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, pad_top = 0, pad_left = 0;
};

// Conv2D output element i of [n,oh,ow,o]; filter [kh,kw,c,o].
FLOWPS_HOST_DEVICE inline float Conv2DAt(const WindowGeometry& g, const float* x, const float* f, int64_t i) {
  const int64_t o = i % g.o, ow = (i / g.o) % g.ow, oh = (i / (g.o * g.ow)) % g.oh, n = i / (g.o * g.ow * g.oh);
  float acc = 0.f;
  for (int64_t p = 0; p < g.kh; ++p) {
    const int64_t ih = oh * g.sh - g.pad_top + p;
    if (ih < 0 || ih >= g.h) continue;
    for (int64_t q = 0; q < g.kw; ++q) {
      const int64_t iw = ow * g.sw - g.pad_left + q;
      if (iw < 0 || iw >= g.w) continue;
      const float* px = x + ((n * g.h + ih) * g.w + iw) * g.c;
      const float* pf = f + (p * g.kw + q) * g.c * g.o + o;
      for (int64_t ch = 0; ch < g.c; ++ch) acc += px[ch] * pf[ch * g.o];
    }
  }
  return acc;
}

// The gradient of Conv2D wrt input element i of [n,h,w,c].
FLOWPS_HOST_DEVICE inline float Conv2DBackpropInputAt(const WindowGeometry& g, const float* f, const float* dy,
                                                      int64_t i) {
  const int64_t ch = i % g.c, iw = (i / g.c) % g.w, ih = (i / (g.c * g.w)) % g.h, n = i / (g.c * g.w * g.h);
  float acc = 0.f;
  for (int64_t p = 0; p < g.kh; ++p) {
    const int64_t th = ih + g.pad_top - p;
    if (th < 0 || th % g.sh != 0 || th / g.sh >= g.oh) continue;
    for (int64_t q = 0; q < g.kw; ++q) {
      const int64_t tw = iw + g.pad_left - q;
      if (tw < 0 || tw % g.sw != 0 || tw / g.sw >= g.ow) continue;
      const float* pdy = dy + ((n * g.oh + th / g.sh) * g.ow + tw / g.sw) * g.o;
      const float* pf = f + ((p * g.kw + q) * g.c + ch) * g.o;
      for (int64_t o = 0; o < g.o; ++o) acc += pdy[o] * pf[o];
    }
  }
  return acc;
}

// The gradient of Conv2D wrt filter element i of [kh,kw,c,o].
FLOWPS_HOST_DEVICE inline float Conv2DBackpropFilterAt(const WindowGeometry& g, const float* x, const float* dy,
                                                       int64_t i) {
  const int64_t o = i % g.o, ch = (i / g.o) % g.c, q = (i / (g.o * g.c)) % g.kw, p = i / (g.o * g.c * g.kw);
  float acc = 0.f;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      const int64_t ih = oh * g.sh - g.pad_top + p;
      if (ih < 0 || ih >= g.h) continue;
      for (int64_t ow = 0; ow < g.ow; ++ow) {
        const int64_t iw = ow * g.sw - g.pad_left + q;
        if (iw < 0 || iw >= g.w) continue;
        acc += x[((n * g.h + ih) * g.w + iw) * g.c + ch] * dy[((n * g.oh + oh) * g.ow + ow) * g.o + o];
      }
    }
  return acc;
}

// Max pooling: the flat input index holding the (first) max of output element
// i of [n,oh,ow,c] (the first NaN when the window holds one), or -1 when the
// window holds only padding.
FLOWPS_HOST_DEVICE inline int64_t MaxPoolArgMax(const WindowGeometry& g, const float* x, int64_t i) {
  const int64_t ch = i % g.c, ow = (i / g.c) % g.ow, oh = (i / (g.c * g.ow)) % g.oh, n = i / (g.c * g.ow * g.oh);
  int64_t best = -1;
  for (int64_t p = 0; p < g.kh; ++p) {
    const int64_t ih = oh * g.sh - g.pad_top + p;
    if (ih < 0 || ih >= g.h) continue;
    for (int64_t q = 0; q < g.kw; ++q) {
      const int64_t iw = ow * g.sw - g.pad_left + q;
      if (iw < 0 || iw >= g.w) continue;
      const int64_t at = ((n * g.h + ih) * g.w + iw) * g.c + ch;
      if (best < 0 || TakesMax(x[at], x[best])) best = at;
    }
  }
  return best;
}

}  // namespace flowps::kernels

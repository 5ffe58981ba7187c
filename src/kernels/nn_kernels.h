// Neural-network kernels on float32 tensors: softmax, the sparse softmax
// cross-entropy, and NHWC convolution / max pooling with their gradients.
// Pure functions, safe to call from many threads.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "core/tensor.h"

namespace flowps {
class ThreadPool;
}

namespace flowps::kernels {

// Softmax over the last axis.
Tensor Softmax(const Tensor& logits);

// logits [N, C], labels [N] int32/int64 in [0, C): the per-example loss [N]
// and its gradient wrt the logits, softmax - onehot [N, C].
struct CrossEntropy {
  Tensor loss;
  Tensor backprop;
};
StatusOr<CrossEntropy> SparseSoftmaxCrossEntropy(const Tensor& logits, const Tensor& labels);

// Geometry of a 2-D window op over NHWC input; SAME pads so that
// out = ceil(in / stride), VALID uses only whole windows.
struct Window {
  int64_t kh = 1, kw = 1;  // window (filter) height and width
  int64_t sh = 1, sw = 1;  // strides
  bool same = false;
};
// Output size and padding before, along one spatial dimension. in may be -1
// (unknown): out is then -1.
StatusOr<int64_t> WindowOutputSize(int64_t in, int64_t k, int64_t stride, bool same, int64_t* pad_before);

// x [N,H,W,C], filter [KH,KW,C,O] -> [N,OH,OW,O].
StatusOr<Tensor> Conv2D(const Tensor& x, const Tensor& filter, const Window& w, ThreadPool* pool);
// The gradient wrt x (of shape x_shape) and wrt the filter (of shape f_shape).
StatusOr<Tensor> Conv2DBackpropInput(const Shape& x_shape, const Tensor& filter, const Tensor& dy,
                                     const Window& w, ThreadPool* pool);
StatusOr<Tensor> Conv2DBackpropFilter(const Tensor& x, const Shape& f_shape, const Tensor& dy,
                                      const Window& w, ThreadPool* pool);

// Max over each window of x [N,H,W,C] (padding never wins; NaN wherever the
// window holds a NaN) -> [N,OH,OW,C].
StatusOr<Tensor> MaxPool(const Tensor& x, const Window& w);
// Routes each dy to the (first) position that held its window's max (its first NaN).
StatusOr<Tensor> MaxPoolGrad(const Tensor& x, const Tensor& dy, const Window& w);

}  // namespace flowps::kernels

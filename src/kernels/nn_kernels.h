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

// InvalidArgument unless logits are [N, C] and labels [N] (the dtypes are the caller's).
Status CheckLogitsAndLabels(const Shape& logits, const Shape& labels);

// logits [N, C], labels [N] int32/int64 in [0, C): the per-example loss [N]
// and its gradient wrt the logits, softmax - onehot [N, C].
struct CrossEntropy {
  Tensor loss;
  Tensor backprop;
};
StatusOr<CrossEntropy> SparseSoftmaxCrossEntropy(const Tensor& logits, const Tensor& labels);

// The pieces of a softmax split by columns over devices (graph op LogSumExp,
// PickColumn): each part gives its log-sum-exp and the logit of each row's
// label when the part holds it; the loss is LogSumExp over the parts' terms
// minus the sum of the picked logits.
// log(sum(exp(x))) over the last axis, kept as a dim of 1: [..., C] -> [..., 1].
Tensor LogSumExp(const Tensor& x);
// x [N, C] holding vocabulary columns [offset, offset + C), labels [N]
// int32/int64 -> [N, 1]: x[i, labels[i] - offset], or 0 where the label is in
// another part. InvalidArgument naming the example when a label is outside
// [0, vocab) or the shapes do not fit.
StatusOr<Tensor> PickColumn(const Tensor& x, const Tensor& labels, int64_t offset, int64_t vocab);
// Its gradient: dy [N, 1] -> dx [N, C] (dy at each row's label column, zeros
// elsewhere).
StatusOr<Tensor> PickColumnGrad(const Tensor& dy, const Tensor& labels, const Shape& x_shape, int64_t offset);

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

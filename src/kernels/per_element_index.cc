#include "kernels/per_element_index.h"

#include <algorithm>
#include <string>

#include "kernels/strided.h"

namespace flowps::kernels {
namespace {

Status CheckRank(const Shape& s) {
  if (s.rank() > kMaxElementRank)
    return InvalidArgument("shape " + s.ToString() + " has rank above " + std::to_string(kMaxElementRank));
  return Status::OK();
}

}  // namespace

StatusOr<BroadcastIndex> MakeBroadcastIndex(const Shape& out, const Shape& a, const Shape& b) {
  FLOWPS_RETURN_IF_ERROR(CheckRank(out));
  for (const Shape* in : {&a, &b}) {
    FLOWPS_ASSIGN_OR_RETURN(Shape s, BroadcastShape(*in, out));
    if (s != out) return InvalidArgument("cannot broadcast " + in->ToString() + " to " + out.ToString());
  }
  BroadcastIndex idx;
  idx.rank = out.rank();
  std::vector<int64_t> sa = BroadcastStrides(a, out), sb = BroadcastStrides(b, out);
  for (int d = 0; d < out.rank(); ++d) {
    idx.dims[d] = out.dim(d);
    idx.a[d] = sa[d];
    idx.b[d] = sb[d];
  }
  return idx;
}

StatusOr<ReduceIndex> MakeReduceIndex(const Shape& in, const std::vector<int64_t>& axes) {
  FLOWPS_RETURN_IF_ERROR(CheckRank(in));
  ReduceIndex r;
  r.rank = in.rank();
  std::vector<int64_t> strides = RowMajorStrides(in);
  for (int d = 0; d < in.rank(); ++d) {
    r.dims[d] = in.dim(d);
    r.strides[d] = strides[d];
  }
  for (int64_t a : axes) {
    if (a < 0 || a >= in.rank()) return InvalidArgument("axis " + std::to_string(a) + " is out of range for " + in.ToString());
    r.reduced[a] = 1;
    r.count *= in.dim(static_cast<int>(a));
  }
  return r;
}

StatusOr<std::vector<int64_t>> SumToShapeAxes(const Shape& x, const Shape& target) {
  if (target.rank() > x.rank()) return InvalidArgument("cannot sum " + x.ToString() + " down to " + target.ToString());
  std::vector<int64_t> axes;
  const int lead = x.rank() - target.rank();
  for (int j = 0; j < x.rank(); ++j) {
    if (j < lead) {
      axes.push_back(j);
      continue;
    }
    const int64_t t = target.dim(j - lead);
    if (t == x.dim(j)) continue;
    if (t != 1) return InvalidArgument("cannot sum " + x.ToString() + " down to " + target.ToString());
    axes.push_back(j);
  }
  return axes;
}

StatusOr<Box> MakeBox(const Shape& whole, const std::vector<int64_t>& begin, const Shape& dims) {
  FLOWPS_RETURN_IF_ERROR(CheckRank(whole));
  const int rank = whole.rank();
  if (dims.rank() != rank || static_cast<int>(begin.size()) != rank)
    return InvalidArgument("a box of " + dims.ToString() + " does not fit the rank of " + whole.ToString());
  Box b;
  b.rank = rank;
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    if (begin[d] < 0 || dims.dim(d) < 0 || begin[d] + dims.dim(d) > whole.dim(d))
      return InvalidArgument("a box of " + dims.ToString() + " at dimension " + std::to_string(d) + " offset " +
                             std::to_string(begin[d]) + " does not fit in " + whole.ToString());
    b.dims[d] = dims.dim(d);
    b.strides[d] = stride;
    b.base += begin[d] * stride;
    stride *= whole.dim(d);
  }
  return b;
}

StatusOr<WindowGeometry> MakeWindowGeometry(const Shape& x, const Window& w, int64_t out_channels) {
  if (x.rank() != 4) return InvalidArgument("expected NHWC input of rank 4, got " + x.ToString());
  WindowGeometry g;
  g.n = x.dim(0);
  g.h = x.dim(1);
  g.w = x.dim(2);
  g.c = x.dim(3);
  g.o = out_channels;
  g.kh = w.kh;
  g.kw = w.kw;
  g.sh = w.sh;
  g.sw = w.sw;
  FLOWPS_ASSIGN_OR_RETURN(g.oh, WindowOutputSize(g.h, w.kh, w.sh, w.same, &g.pad_top));
  FLOWPS_ASSIGN_OR_RETURN(g.ow, WindowOutputSize(g.w, w.kw, w.sw, w.same, &g.pad_left));
  return g;
}

}  // namespace flowps::kernels

#include "kernels/strided.h"

#include <algorithm>

namespace flowps::kernels {

StatusOr<Shape> BroadcastShape(const Shape& a, const Shape& b) {
  const int r = std::max(a.rank(), b.rank());
  std::vector<int64_t> dims(r);
  for (int i = 0; i < r; ++i) {
    int ia = i - (r - a.rank()), ib = i - (r - b.rank());
    int64_t da = ia >= 0 ? a.dim(ia) : 1, db = ib >= 0 ? b.dim(ib) : 1;
    if (da == db) {
      dims[i] = da;
    } else if (da == 1) {
      dims[i] = db;
    } else if (db == 1) {
      dims[i] = da;
    } else if (da < 0) {
      dims[i] = db;
    } else if (db < 0) {
      dims[i] = da;
    } else {
      return InvalidArgument("shapes " + a.ToString() + " and " + b.ToString() + " do not broadcast");
    }
  }
  return Shape(std::move(dims));
}

std::vector<int64_t> RowMajorStrides(const Shape& shape) {
  std::vector<int64_t> s(shape.rank());
  int64_t acc = 1;
  for (int i = shape.rank() - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape.dim(i);
  }
  return s;
}

std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out) {
  std::vector<int64_t> own = RowMajorStrides(in);
  std::vector<int64_t> s(out.rank(), 0);
  for (int i = 0; i < out.rank(); ++i) {
    int j = i - (out.rank() - in.rank());
    if (j >= 0 && !(in.dim(j) == 1 && out.dim(i) != 1)) s[i] = own[j];
  }
  return s;
}

}  // namespace flowps::kernels

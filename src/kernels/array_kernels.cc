#include "kernels/array_kernels.h"

#include <algorithm>
#include <cstring>

#include "kernels/strided.h"

namespace flowps::kernels {
namespace {

template <typename T>
void CopyRows(const char* src, char* dst, const std::vector<int64_t>& dims,
              const std::vector<int64_t>& src_strides, const std::vector<int64_t>& dst_strides) {
  const T* s = reinterpret_cast<const T*>(src);
  T* d = reinterpret_cast<T*>(dst);
  ForEachRow<2>(dims, {src_strides, dst_strides},
                [&](int64_t, const std::array<int64_t, 2>& off, int64_t len, const std::array<int64_t, 2>& inner) {
                  for (int64_t i = 0; i < len; ++i) d[off[1] + i * inner[1]] = s[off[0] + i * inner[0]];
                });
}

// Copies the index space `dims` from src (at its strides) to dst (at its strides).
void StridedCopy(DType dtype, const void* src, const std::vector<int64_t>& src_strides, void* dst,
                 const std::vector<int64_t>& dst_strides, const std::vector<int64_t>& dims) {
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  switch (DTypeSize(dtype)) {
    case 2: CopyRows<uint16_t>(s, d, dims, src_strides, dst_strides); break;
    case 4: CopyRows<uint32_t>(s, d, dims, src_strides, dst_strides); break;
    default: CopyRows<uint64_t>(s, d, dims, src_strides, dst_strides); break;
  }
}

int64_t Offset(const std::vector<int64_t>& begin, const std::vector<int64_t>& strides) {
  int64_t o = 0;
  for (size_t i = 0; i < begin.size(); ++i) o += begin[i] * strides[i];
  return o;
}

StatusOr<std::vector<int64_t>> CheckedIndices(const Tensor& indices, int64_t limit) {
  if (indices.dtype() != DType::kInt32 && indices.dtype() != DType::kInt64)
    return InvalidArgument(std::string("indices must be int32 or int64, got ") + DTypeName(indices.dtype()));
  std::vector<int64_t> idx = IndicesAsInt64(indices);
  for (size_t i = 0; i < idx.size(); ++i)
    if (idx[i] < 0 || idx[i] >= limit)
      return InvalidArgument("index " + std::to_string(idx[i]) + " at position " + std::to_string(i) +
                             " is out of range [0, " + std::to_string(limit) + ")");
  return idx;
}

}  // namespace

std::vector<int64_t> IndicesAsInt64(const Tensor& indices) {
  if (indices.dtype() == DType::kInt64) return indices.ToVector<int64_t>();
  std::vector<int32_t> v = indices.ToVector<int32_t>();
  return std::vector<int64_t>(v.begin(), v.end());
}

namespace {
template <typename From>
StatusOr<Tensor> CastFrom(const Tensor& x, DType to) {
  Tensor out(to, x.shape());
  const From* src = x.data<From>();
  const int64_t n = x.num_elements();
  switch (to) {
    case DType::kFloat32: std::copy_n(src, n, out.data<float>()); break;
    case DType::kInt32: for (int64_t i = 0; i < n; ++i) out.data<int32_t>()[i] = static_cast<int32_t>(src[i]); break;
    case DType::kInt64: for (int64_t i = 0; i < n; ++i) out.data<int64_t>()[i] = static_cast<int64_t>(src[i]); break;
    default: return InvalidArgument(std::string("cannot cast to ") + DTypeName(to));
  }
  return out;
}
}  // namespace

StatusOr<Tensor> Cast(const Tensor& x, DType to) {
  switch (x.dtype()) {
    case DType::kFloat32: return CastFrom<float>(x, to);
    case DType::kInt32: return CastFrom<int32_t>(x, to);
    case DType::kInt64: return CastFrom<int64_t>(x, to);
    default: return InvalidArgument(std::string("cannot cast from ") + DTypeName(x.dtype()));
  }
}

StatusOr<Tensor> Transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  const int r = x.shape().rank();
  if (static_cast<int>(perm.size()) != r)
    return InvalidArgument("permutation of length " + std::to_string(perm.size()) + " for rank " + std::to_string(r));
  std::vector<int64_t> own = RowMajorStrides(x.shape());
  std::vector<int64_t> dims(r), strides(r);
  std::vector<bool> seen(r, false);
  for (int d = 0; d < r; ++d) {
    if (perm[d] < 0 || perm[d] >= r || seen[perm[d]]) return InvalidArgument("not a permutation of 0.." + std::to_string(r - 1));
    seen[perm[d]] = true;
    dims[d] = x.shape().dim(perm[d]);
    strides[d] = own[perm[d]];
  }
  Tensor out(x.dtype(), Shape(dims));
  StridedCopy(x.dtype(), x.raw_data(), strides, out.raw_data(), RowMajorStrides(out.shape()), dims);
  return out;
}

StatusOr<Tensor> Concat(const std::vector<Tensor>& parts, int axis) {
  if (parts.empty()) return InvalidArgument("Concat of nothing");
  const Shape& first = parts[0].shape();
  if (axis < 0 || axis >= first.rank()) return InvalidArgument("Concat axis out of range");
  std::vector<int64_t> dims = first.dims();
  dims[axis] = 0;
  for (const Tensor& p : parts) {
    if (p.dtype() != parts[0].dtype() || p.shape().rank() != first.rank())
      return InvalidArgument("Concat parts differ in dtype or rank");
    for (int d = 0; d < first.rank(); ++d)
      if (d != axis && p.shape().dim(d) != first.dim(d))
        return InvalidArgument("Concat parts differ outside the axis: " + first.ToString() + " vs " +
                               p.shape().ToString());
    dims[axis] += p.shape().dim(axis);
  }
  Tensor out(parts[0].dtype(), Shape(dims));
  int64_t outer = 1;
  for (int d = 0; d < axis; ++d) outer *= dims[d];
  const size_t esize = DTypeSize(out.dtype());
  const size_t out_row = static_cast<size_t>(out.num_elements() / std::max<int64_t>(outer, 1)) * esize;
  char* dst = static_cast<char*>(out.raw_data());
  size_t col = 0;
  for (const Tensor& p : parts) {
    const size_t chunk = static_cast<size_t>(p.num_elements() / std::max<int64_t>(outer, 1)) * esize;
    const char* src = static_cast<const char*>(p.raw_data());
    for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + o * out_row + col, src + o * chunk, chunk);
    col += chunk;
  }
  return out;
}

StatusOr<Shape> SliceShape(const Shape& shape, const std::vector<int64_t>& begin,
                           const std::vector<int64_t>& size) {
  if (static_cast<int>(begin.size()) != shape.rank() || static_cast<int>(size.size()) != shape.rank())
    return InvalidArgument("Slice begin/size need " + std::to_string(shape.rank()) + " entries");
  std::vector<int64_t> dims(shape.rank());
  for (int d = 0; d < shape.rank(); ++d) {
    const int64_t n = shape.dim(d);
    if (begin[d] < 0 || size[d] < -1 || (n >= 0 && begin[d] + std::max<int64_t>(size[d], 0) > n) ||
        (n >= 0 && begin[d] > n))
      return InvalidArgument("Slice begin " + std::to_string(begin[d]) + " size " + std::to_string(size[d]) +
                             " does not fit dimension " + std::to_string(d) + " of " + shape.ToString());
    dims[d] = size[d] >= 0 ? size[d] : (n >= 0 ? n - begin[d] : -1);
  }
  return Shape(std::move(dims));
}

StatusOr<Tensor> Slice(const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& size) {
  FLOWPS_ASSIGN_OR_RETURN(Shape shape, SliceShape(x.shape(), begin, size));
  Tensor out(x.dtype(), shape);
  std::vector<int64_t> strides = RowMajorStrides(x.shape());
  const char* src = static_cast<const char*>(x.raw_data()) + Offset(begin, strides) * DTypeSize(x.dtype());
  StridedCopy(x.dtype(), src, strides, out.raw_data(), RowMajorStrides(shape), shape.dims());
  return out;
}

StatusOr<Shape> SplitShape(const Shape& x, int64_t num, int axis) {
  if (axis < 0 || axis >= x.rank()) return InvalidArgument("Split axis " + std::to_string(axis) + " is out of range for " + x.ToString());
  const int64_t n = x.dim(axis);
  if (num < 1 || (n >= 0 && n % num != 0))
    return InvalidArgument("Split: " + std::to_string(num) + " parts do not divide dimension " + std::to_string(axis) +
                           " of " + x.ToString());
  std::vector<int64_t> dims = x.dims();
  dims[axis] = n < 0 ? -1 : n / num;
  return Shape(std::move(dims));
}

StatusOr<std::vector<Tensor>> Split(const Tensor& x, int64_t num, int axis) {
  FLOWPS_ASSIGN_OR_RETURN(Shape part, SplitShape(x.shape(), num, axis));
  std::vector<Tensor> parts;
  std::vector<int64_t> begin(x.shape().rank(), 0);
  for (int64_t i = 0; i < num; ++i) {
    begin[axis] = i * part.dim(axis);
    FLOWPS_ASSIGN_OR_RETURN(Tensor t, Slice(x, begin, part.dims()));
    parts.push_back(std::move(t));
  }
  return parts;
}

StatusOr<Tensor> SliceGrad(const Tensor& dy, const Shape& x_shape, const std::vector<int64_t>& begin) {
  FLOWPS_ASSIGN_OR_RETURN(Shape shape, SliceShape(x_shape, begin, dy.shape().dims()));
  if (shape != dy.shape()) return InvalidArgument("SliceGrad: gradient shape does not fit");
  Tensor out = Tensor::Zeros(dy.dtype(), x_shape);
  std::vector<int64_t> strides = RowMajorStrides(x_shape);
  char* dst = static_cast<char*>(out.raw_data()) + Offset(begin, strides) * DTypeSize(dy.dtype());
  StridedCopy(dy.dtype(), dy.raw_data(), RowMajorStrides(dy.shape()), dst, strides, dy.shape().dims());
  return out;
}

StatusOr<Tensor> Gather(const Tensor& params, const Tensor& indices) {
  if (params.shape().rank() < 1) return InvalidArgument("Gather needs params of rank >= 1");
  FLOWPS_ASSIGN_OR_RETURN(std::vector<int64_t> idx, CheckedIndices(indices, params.shape().dim(0)));
  std::vector<int64_t> dims = indices.shape().dims();
  for (int d = 1; d < params.shape().rank(); ++d) dims.push_back(params.shape().dim(d));
  Tensor out(params.dtype(), Shape(dims));
  const size_t row = params.shape().dim(0) == 0 ? 0 : params.num_bytes() / params.shape().dim(0);
  const char* src = static_cast<const char*>(params.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (size_t i = 0; i < idx.size(); ++i) std::memcpy(dst + i * row, src + idx[i] * row, row);
  return out;
}

StatusOr<Tensor> ScatterRowsAdd(const Tensor& indices, const Tensor& values, const Shape& dense_shape) {
  if (dense_shape.rank() < 1 || !dense_shape.fully_defined()) return InvalidArgument("bad dense shape " + dense_shape.ToString());
  FLOWPS_ASSIGN_OR_RETURN(std::vector<int64_t> idx, CheckedIndices(indices, dense_shape.dim(0)));
  const int64_t row = dense_shape.dim(0) == 0 ? 0 : dense_shape.num_elements() / dense_shape.dim(0);
  if (values.num_elements() != static_cast<int64_t>(idx.size()) * row)
    return InvalidArgument("values " + values.shape().ToString() + " do not match " + std::to_string(idx.size()) +
                           " rows of " + dense_shape.ToString());
  Tensor out = Tensor::Zeros(DType::kFloat32, dense_shape);
  float* o = out.data<float>();
  const float* v = values.data<float>();
  for (size_t i = 0; i < idx.size(); ++i)
    for (int64_t j = 0; j < row; ++j) o[idx[i] * row + j] += v[i * row + j];
  return out;
}

namespace {
// The offsets as a vector, checked against `rows` (and `batch`, if >= 0).
StatusOr<std::vector<int64_t>> SegmentOffsets(const Tensor& offsets, int64_t rows, int64_t batch) {
  if (offsets.dtype() != DType::kInt64 || offsets.shape().rank() != 1 || offsets.num_elements() < 1)
    return InvalidArgument("offsets must be int64 [batch + 1], got " + std::string(DTypeName(offsets.dtype())) + " " +
                           offsets.shape().ToString());
  std::vector<int64_t> o = offsets.ToVector<int64_t>();
  if (batch >= 0 && static_cast<int64_t>(o.size()) != batch + 1)
    return InvalidArgument("offsets " + offsets.shape().ToString() + " do not match a batch of " + std::to_string(batch));
  if (o.front() != 0 || o.back() != rows)
    return InvalidArgument("offsets must run from 0 to the " + std::to_string(rows) + " rows, got " +
                           std::to_string(o.front()) + " to " + std::to_string(o.back()));
  for (size_t i = 1; i < o.size(); ++i)
    if (o[i] < o[i - 1]) return InvalidArgument("offsets decrease at position " + std::to_string(i));
  return o;
}

Shape WithFirstDim(const Shape& s, int64_t first) {
  std::vector<int64_t> dims = s.dims();
  dims[0] = first;
  return Shape(dims);
}
}  // namespace

StatusOr<Tensor> SegmentCombine(const Tensor& values, const Tensor& offsets, bool mean) {
  if (values.dtype() != DType::kFloat32 || values.shape().rank() < 1)
    return InvalidArgument("values must be float32 of rank >= 1, got " + values.shape().ToString());
  FLOWPS_ASSIGN_OR_RETURN(std::vector<int64_t> o, SegmentOffsets(offsets, values.shape().dim(0), -1));
  const int64_t batch = static_cast<int64_t>(o.size()) - 1;
  const int64_t row = values.shape().dim(0) == 0 ? 0 : values.num_elements() / values.shape().dim(0);
  Tensor out = Tensor::Zeros(DType::kFloat32, WithFirstDim(values.shape(), batch));
  const float* v = values.data<float>();
  float* y = out.data<float>();
  for (int64_t i = 0; i < batch; ++i) {
    for (int64_t r = o[i]; r < o[i + 1]; ++r)
      for (int64_t j = 0; j < row; ++j) y[i * row + j] += v[r * row + j];
    if (mean && o[i + 1] > o[i])
      for (int64_t j = 0; j < row; ++j) y[i * row + j] /= static_cast<float>(o[i + 1] - o[i]);
  }
  return out;
}

StatusOr<Tensor> SegmentExpand(const Tensor& per_example, const Tensor& offsets, bool mean) {
  if (per_example.dtype() != DType::kFloat32 || per_example.shape().rank() < 1)
    return InvalidArgument("per-example values must be float32 of rank >= 1, got " + per_example.shape().ToString());
  const int64_t batch = per_example.shape().dim(0);
  if (offsets.num_elements() < 1) return InvalidArgument("offsets must be int64 [batch + 1]");
  const int64_t rows = offsets.dtype() == DType::kInt64 ? offsets.data<int64_t>()[offsets.num_elements() - 1] : -1;
  FLOWPS_ASSIGN_OR_RETURN(std::vector<int64_t> o, SegmentOffsets(offsets, rows, batch));
  const int64_t row = batch == 0 ? 0 : per_example.num_elements() / batch;
  Tensor out(DType::kFloat32, WithFirstDim(per_example.shape(), rows));
  const float* g = per_example.data<float>();
  float* y = out.data<float>();
  for (int64_t i = 0; i < batch; ++i) {
    const float scale = mean && o[i + 1] > o[i] ? 1.0f / static_cast<float>(o[i + 1] - o[i]) : 1.0f;
    for (int64_t r = o[i]; r < o[i + 1]; ++r)
      for (int64_t j = 0; j < row; ++j) y[r * row + j] = g[i * row + j] * scale;
  }
  return out;
}

}  // namespace flowps::kernels

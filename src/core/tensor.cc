#include "core/tensor.h"

#include "core/shape_check.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdlib>
#include <sstream>

namespace flowps {

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 4;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kBFloat16: return 2;
  }
  return 0;
}

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kBFloat16: return "bfloat16";
  }
  return "unknown";
}

StatusOr<DType> ParseDType(const std::string& name) {
  if (name == "float32") return DType::kFloat32;
  if (name == "int32") return DType::kInt32;
  if (name == "int64") return DType::kInt64;
  if (name == "bfloat16") return DType::kBFloat16;
  return InvalidArgument("unknown dtype '" + name + "' (expected float32, int32, int64 or bfloat16)");
}

bool Shape::fully_defined() const {
  for (int64_t d : dims_)
    if (d < 0) return false;
  return true;
}

namespace {

// The product of the non-negative dimensions, saturated at kMaxTensorElements + 1.
int64_t SaturatedProduct(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  bool too_large = false;
  for (int64_t d : dims) {
    if (d == 0) return 0;
    if (d < 0 || too_large) continue;
    too_large = __builtin_mul_overflow(n, d, &n) || n > kMaxTensorElements;
  }
  return too_large ? kMaxTensorElements + 1 : n;
}

}  // namespace

int64_t Shape::num_elements() const {
  for (int64_t d : dims_)
    if (d < 0) return -1;
  return SaturatedProduct(dims_);
}

Status CheckShape(const Shape& shape, bool allow_unknown) {
  for (int64_t d : shape.dims())
    if (d < -1 || (d == -1 && !allow_unknown))
      return InvalidArgument("shape " + shape.ToString() + " has the dimension " + std::to_string(d));
  if (SaturatedProduct(shape.dims()) > kMaxTensorElements)
    return InvalidArgument("shape " + shape.ToString() + " has more than 2^56 elements");
  return Status::OK();
}

std::string Shape::ToString() const {
  std::string s = "[";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) s += ",";
    s += dims_[i] < 0 ? "?" : std::to_string(dims_[i]);
  }
  return s + "]";
}

std::shared_ptr<Buffer> Buffer::Allocate(size_t bytes) {
  size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded);
  if (p == nullptr) throw std::bad_alloc();
  return std::shared_ptr<Buffer>(new Buffer(p, bytes, true, nullptr));
}

std::shared_ptr<Buffer> Buffer::Wrap(void* data, size_t bytes, std::shared_ptr<void> owner) {
  return std::shared_ptr<Buffer>(new Buffer(data, bytes, false, std::move(owner)));
}

std::shared_ptr<Buffer> Buffer::WrapDevice(void* data, size_t bytes, int device, std::shared_ptr<void> owner) {
  return std::shared_ptr<Buffer>(new Buffer(data, bytes, false, std::move(owner), device));
}

Buffer::~Buffer() {
  if (owned_) std::free(data_);
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  buffer_ = Buffer::Allocate(num_bytes());
}

Tensor::Tensor(DType dtype, Shape shape, std::shared_ptr<Buffer> buffer, size_t offset)
    : dtype_(dtype), shape_(std::move(shape)), buffer_(std::move(buffer)), offset_(offset) {}

Tensor Tensor::Zeros(DType dtype, Shape shape) {
  Tensor t(dtype, std::move(shape));
  std::memset(t.raw_data(), 0, t.num_bytes());
  return t;
}

Tensor Tensor::Slice(int64_t begin, int64_t end) const {
  std::vector<int64_t> dims = shape_.dims();
  int64_t row_elems = dims[0] == 0 ? 0 : num_elements() / dims[0];
  dims[0] = end - begin;
  return Tensor(dtype_, Shape(std::move(dims)), buffer_,
                offset_ + static_cast<size_t>(begin * row_elems) * DTypeSize(dtype_));
}

StatusOr<Tensor> Tensor::Reshaped(Shape shape) const {
  if (!shape.fully_defined() || shape.num_elements() != num_elements())
    return InvalidArgument("cannot reshape " + shape_.ToString() + " to " + shape.ToString());
  return Tensor(dtype_, std::move(shape), buffer_, offset_);
}

Tensor Tensor::Clone() const {
  Tensor t(dtype_, shape_);
  std::memcpy(t.raw_data(), raw_data(), num_bytes());
  return t;
}

Status Tensor::Check(DType dtype, const Shape& shape, const std::string& what) const {
  if (!valid()) return InvalidArgument(what + ": tensor is empty");
  bool shape_ok = shape.rank() == shape_.rank();
  for (int i = 0; shape_ok && i < shape.rank(); ++i)
    shape_ok = shape.dim(i) < 0 || shape.dim(i) == shape_.dim(i);
  if (dtype != dtype_ || !shape_ok)
    return InvalidArgument(what + ": expected " + DTypeName(dtype) + shape.ToString() + ", got " +
                           DTypeName(dtype_) + shape_.ToString());
  return Status::OK();
}

std::string Tensor::DebugString(int max_entries) const {
  if (!valid()) return "Tensor(<empty>)";
  if (on_device())
    return "Tensor(" + std::string(DTypeName(dtype_)) + shape_.ToString() + " on gpu:" +
           std::to_string(buffer_->device()) + ")";
  std::ostringstream os;
  os << "Tensor(" << DTypeName(dtype_) << shape_.ToString() << ": ";
  int64_t n = std::min<int64_t>(num_elements(), max_entries);
  for (int64_t i = 0; i < n; ++i) {
    if (i) os << ", ";
    switch (dtype_) {
      case DType::kFloat32: os << data<float>()[i]; break;
      case DType::kInt32: os << data<int32_t>()[i]; break;
      case DType::kInt64: os << data<int64_t>()[i]; break;
      case DType::kBFloat16: os << BFloat16ToFloat(data<bfloat16>()[i]); break;
    }
  }
  if (num_elements() > n) os << ", ...";
  os << ")";
  return os.str();
}

Tensor ToBFloat16(const Tensor& f32) {
  Tensor out(DType::kBFloat16, f32.shape());
  const float* src = f32.data<float>();
  bfloat16* dst = out.data<bfloat16>();
  for (int64_t i = 0, n = f32.num_elements(); i < n; ++i) dst[i] = FloatToBFloat16(src[i]);
  return out;
}

Tensor FromBFloat16(const Tensor& bf16) {
  Tensor out(DType::kFloat32, bf16.shape());
  const bfloat16* src = bf16.data<bfloat16>();
  float* dst = out.data<float>();
  for (int64_t i = 0, n = bf16.num_elements(); i < n; ++i) dst[i] = BFloat16ToFloat(src[i]);
  return out;
}

bool AllFinite(const Tensor& t) {
  if (t.dtype() != DType::kFloat32) return true;
  const float* p = t.data<float>();
  const int64_t n = t.num_elements();
  for (int64_t begin = 0; begin < n; begin += 4096) {
    const int64_t end = std::min(n, begin + 4096);
    int bad = 0;  // no early exit inside a block, so that the loop vectorises
    for (int64_t i = begin; i < end; ++i) bad |= !(std::fabs(p[i]) <= std::numeric_limits<float>::max());
    if (bad) return false;
  }
  return true;
}

}  // namespace flowps

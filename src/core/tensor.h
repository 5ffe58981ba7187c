// Tensor: a dtype, a shape and a shared, 64-byte-aligned buffer.
//
// Tensors are cheap movable values: copying a Tensor copies a reference, not
// the data (use Clone() for a deep copy). Slicing along the first dimension is
// zero-copy. Thread safety: a Tensor value may be read from many threads; a
// buffer written by one thread must not be read concurrently (the executor
// and the ps guarantee this by ownership, not by locks in here).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace flowps {

enum class DType : uint8_t {
  kFloat32 = 1,
  kInt32 = 2,
  kInt64 = 3,
  kBFloat16 = 4,  // wire format only: float32 with the low 16 bits truncated
};

size_t DTypeSize(DType dtype);
const char* DTypeName(DType dtype);  // "float32", "int32", "int64", "bfloat16"
StatusOr<DType> ParseDType(const std::string& name);

// bfloat16 made by truncating the low 16 bits of a float32 (TensorFlow paper, §5.5).
struct bfloat16 {
  uint16_t bits = 0;
};
inline bfloat16 FloatToBFloat16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return bfloat16{static_cast<uint16_t>(u >> 16)};
}
inline float BFloat16ToFloat(bfloat16 b) {
  uint32_t u = static_cast<uint32_t>(b.bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

template <typename T> constexpr DType DTypeOf();
template <> constexpr DType DTypeOf<float>() { return DType::kFloat32; }
template <> constexpr DType DTypeOf<int32_t>() { return DType::kInt32; }
template <> constexpr DType DTypeOf<int64_t>() { return DType::kInt64; }
template <> constexpr DType DTypeOf<bfloat16>() { return DType::kBFloat16; }

// A shape. A dimension of -1 is unknown (only in shape inference; a Tensor's
// shape is always fully defined).
class Shape {
 public:
  Shape() = default;  // a scalar
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}

  int rank() const { return static_cast<int>(dims_.size()); }
  int64_t dim(int i) const { return dims_[i]; }
  const std::vector<int64_t>& dims() const { return dims_; }
  bool fully_defined() const;
  // Product of the dimensions; -1 if any is unknown. 1 for a scalar.
  int64_t num_elements() const;
  std::string ToString() const;  // "[64,784]", "[?,10]", "[]"

  bool operator==(const Shape&) const = default;

 private:
  std::vector<int64_t> dims_;
};

// Bytes owned by the buffer, or external bytes kept alive by `owner` (for
// example a received Cap'n Proto message: tensors read from the wire point
// into it without copying). A buffer may also hold device (GPU) memory: then
// on_device() is true, data() is a device address that host code must never
// dereference, and only device code and explicit copies touch it.
class Buffer {
 public:
  static constexpr size_t kAlignment = 64;

  // Uninitialised, kAlignment-aligned storage.
  static std::shared_ptr<Buffer> Allocate(size_t bytes);
  // A view of memory owned by someone else; `owner` is released with the buffer.
  static std::shared_ptr<Buffer> Wrap(void* data, size_t bytes, std::shared_ptr<void> owner);
  // Device memory of GPU `device`; `owner` gives it back (for example to a
  // caching allocator) when the buffer is released.
  static std::shared_ptr<Buffer> WrapDevice(void* data, size_t bytes, int device, std::shared_ptr<void> owner);

  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  bool on_device() const { return device_ >= 0; }
  int device() const { return device_; }  // the GPU index; -1 for host memory

 private:
  Buffer(void* data, size_t size, bool owned, std::shared_ptr<void> owner, int device = -1)
      : data_(data), size_(size), owned_(owned), owner_(std::move(owner)), device_(device) {}
  void* data_;
  size_t size_;
  bool owned_;
  std::shared_ptr<void> owner_;
  int device_;
};

class Tensor {
 public:
  Tensor() = default;  // invalid: !valid()
  // Allocates uninitialised storage. REQUIRES: shape.fully_defined().
  Tensor(DType dtype, Shape shape);
  // A tensor over an existing buffer, starting `offset` bytes in.
  // REQUIRES: offset + bytes of shape <= buffer->size().
  Tensor(DType dtype, Shape shape, std::shared_ptr<Buffer> buffer, size_t offset = 0);

  static Tensor Zeros(DType dtype, Shape shape);
  template <typename T>
  static Tensor FromVector(Shape shape, const std::vector<T>& values);  // REQUIRES: sizes agree
  template <typename T>
  static Tensor Scalar(T value) { return FromVector<T>(Shape{}, {value}); }

  bool valid() const { return buffer_ != nullptr; }
  // True when the data lives in GPU memory: data<T>() is then a device address.
  bool on_device() const { return buffer_ != nullptr && buffer_->on_device(); }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t num_elements() const { return shape_.num_elements(); }
  size_t num_bytes() const { return static_cast<size_t>(num_elements()) * DTypeSize(dtype_); }

  void* raw_data() const { return static_cast<char*>(buffer_->data()) + offset_; }
  // REQUIRES: DTypeOf<T>() == dtype().
  template <typename T> T* data() const { return static_cast<T*>(raw_data()); }
  template <typename T> std::vector<T> ToVector() const {
    return std::vector<T>(data<T>(), data<T>() + num_elements());
  }

  // Rows [begin, end) of the first dimension, sharing this tensor's buffer.
  // REQUIRES: rank() >= 1 and 0 <= begin <= end <= dim(0).
  Tensor Slice(int64_t begin, int64_t end) const;
  // The same buffer seen with another shape of the same element count.
  StatusOr<Tensor> Reshaped(Shape shape) const;
  // A deep copy into a fresh buffer. REQUIRES: !on_device().
  Tensor Clone() const;
  bool SharesBufferWith(const Tensor& other) const { return buffer_ && buffer_ == other.buffer_; }
  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }
  size_t offset() const { return offset_; }

  // InvalidArgument naming `what` unless dtype and shape match (-1 matches any).
  Status Check(DType dtype, const Shape& shape, const std::string& what) const;
  std::string DebugString(int max_entries = 8) const;

 private:
  DType dtype_ = DType::kFloat32;
  Shape shape_;
  std::shared_ptr<Buffer> buffer_;
  size_t offset_ = 0;
};

// float32 <-> bfloat16 (truncating) conversions, for reduced-precision transfers.
Tensor ToBFloat16(const Tensor& f32);    // REQUIRES: f32.dtype() == kFloat32
Tensor FromBFloat16(const Tensor& bf16);  // REQUIRES: bf16.dtype() == kBFloat16

// True if every element of a float32 tensor is finite (no NaN, no Inf).
bool AllFinite(const Tensor& t);

template <typename T>
Tensor Tensor::FromVector(Shape shape, const std::vector<T>& values) {
  Tensor t(DTypeOf<T>(), std::move(shape));
  std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}

}  // namespace flowps

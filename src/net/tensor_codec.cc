#include "net/tensor_codec.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <capnp/any.h>
#include <kj/vector.h>

#include "net/response_keeper.h"

namespace flowps {
namespace {

// Whether `out` may reference `sent`'s buffer: large and aligned enough, and,
// for a server response, kept alive with the message by options.keeper.
bool MayReference(const Tensor& sent, wire::Tensor::Builder out, const TensorWireOptions& options) {
  const size_t bytes = sent.num_bytes();
  if (bytes < options.copy_below_bytes || bytes < 8 || reinterpret_cast<uintptr_t>(sent.raw_data()) % 8 != 0)
    return false;
  if (options.keeper == nullptr) return true;
  // An address in `out` names the message (its data section holds the dtype).
  const void* inside = capnp::AnyStruct::Builder(kj::mv(out)).getDataSection().begin();
  return options.keeper->Attach(inside, sent.buffer());
}

bool IsKnownDType(wire::DType d) {
  switch (d) {
    case wire::DType::FLOAT32:
    case wire::DType::INT32:
    case wire::DType::INT64:
    case wire::DType::BFLOAT16:
      return true;
    default:
      return false;
  }
}

}  // namespace

StatusOr<Tensor> WriteTensor(const Tensor& tensor, wire::Tensor::Builder out, const TensorWireOptions& options) {
  if (!tensor.valid()) return InvalidArgument("cannot send an invalid (empty) tensor");
  Tensor sent = (options.bfloat16 && tensor.dtype() == DType::kFloat32) ? ToBFloat16(tensor) : tensor;
  out.setDtype(static_cast<wire::DType>(static_cast<uint16_t>(sent.dtype())));
  auto shape = out.initShape(static_cast<unsigned>(sent.shape().rank()));
  for (int i = 0; i < sent.shape().rank(); ++i) shape.set(static_cast<unsigned>(i), sent.shape().dim(i));

  const size_t bytes = sent.num_bytes();
  const auto* data = static_cast<const kj::byte*>(sent.raw_data());
  if (!MayReference(sent, out, options)) {
    // One copied chunk (also the path for misaligned buffers, which cannot be referenced).
    if (bytes > kMaxChunkBytes * kMaxChunksPerTensor)
      return InvalidArgument("tensor of " + std::to_string(bytes) + " bytes is too large to send");
    size_t n = bytes == 0 ? 0 : (bytes + kMaxChunkBytes - 1) / kMaxChunkBytes;
    auto chunks = out.initChunks(static_cast<unsigned>(n));
    for (size_t i = 0; i < n; ++i) {
      size_t begin = i * kMaxChunkBytes, len = std::min(kMaxChunkBytes, bytes - begin);
      chunks.set(static_cast<unsigned>(i), kj::arrayPtr(data + begin, len));
    }
    return sent;
  }

  // Referenced chunks of a multiple of 8 bytes, then the tail (< 8 bytes) copied.
  const size_t body = bytes / 8 * 8;
  size_t chunk = std::max(options.chunk_bytes, (body + kMaxChunksPerTensor - 1) / kMaxChunksPerTensor);
  chunk = std::min((chunk + 7) / 8 * 8, kMaxChunkBytes);
  const size_t n_body = (body + chunk - 1) / chunk;
  if (n_body > kMaxChunksPerTensor)
    return InvalidArgument("tensor of " + std::to_string(bytes) + " bytes is too large to send");
  const bool has_tail = body != bytes;
  auto chunks = out.initChunks(static_cast<unsigned>(n_body + (has_tail ? 1 : 0)));
  // Every chunk's segment first, then the pointers to them: a pointer into
  // another segment may need a landing pad, and allocating one can open a new
  // segment of the message; made between two chunks, it would lie between
  // them on the wire and the receiver would have to copy the tensor.
  capnp::Orphanage orphanage = capnp::Orphanage::getForMessageContaining(out);
  kj::Vector<capnp::Orphan<capnp::Data>> referenced(n_body);
  for (size_t i = 0; i < n_body; ++i) {
    size_t begin = i * chunk, len = std::min(chunk, body - begin);
    referenced.add(orphanage.referenceExternalData(capnp::Data::Reader(data + begin, len)));
  }
  for (size_t i = 0; i < n_body; ++i) chunks.adopt(static_cast<unsigned>(i), kj::mv(referenced[i]));
  if (has_tail) chunks.set(static_cast<unsigned>(n_body), kj::arrayPtr(data + body, bytes - body));
  return sent;
}

StatusOr<Tensor> ReadTensor(wire::Tensor::Reader in, std::shared_ptr<void> owner, const std::string& what) {
  if (!IsKnownDType(in.getDtype()))
    return InvalidArgument(what + ": unknown dtype " + std::to_string(static_cast<int>(in.getDtype())));
  const DType dtype = static_cast<DType>(static_cast<uint16_t>(in.getDtype()));
  std::vector<int64_t> dims;
  int64_t elements = 1;
  for (int64_t d : in.getShape()) {
    if (d < 0) return InvalidArgument(what + ": negative dimension " + std::to_string(d) + " in the shape");
    if (d != 0 && elements > std::numeric_limits<int64_t>::max() / 8 / d)
      return InvalidArgument(what + ": the shape is too large");
    elements *= d;
    dims.push_back(d);
  }
  Shape shape(std::move(dims));
  const size_t expected = static_cast<size_t>(elements) * DTypeSize(dtype);
  auto chunks = in.getChunks();
  size_t received = 0;
  for (auto c : chunks) received += c.size();
  if (received != expected)
    return InvalidArgument(what + ": shape " + shape.ToString() + " of " + DTypeName(dtype) + " needs " +
                           std::to_string(expected) + " bytes, the message has " + std::to_string(received));

  // Referenced chunks are consecutive segments, and a received message keeps
  // its segments back to back: such chunks form one range of memory.
  bool contiguous = chunks.size() >= 1;
  for (unsigned i = 1; contiguous && i < chunks.size(); ++i)
    contiguous = chunks[i - 1].end() == chunks[i].begin();
  Tensor t;
  if (contiguous && reinterpret_cast<uintptr_t>(chunks[0].begin()) % DTypeSize(dtype) == 0) {
    // Zero copy: the tensor points into the received message.
    auto* p = const_cast<kj::byte*>(chunks[0].begin());
    t = Tensor(dtype, shape, Buffer::Wrap(p, expected, std::move(owner)));
  } else {
    t = Tensor(dtype, shape);
    auto* dst = static_cast<kj::byte*>(t.raw_data());
    for (auto c : chunks) {
      if (c.size() > 0) std::memcpy(dst, c.begin(), c.size());
      dst += c.size();
    }
  }
  if (dtype == DType::kBFloat16) return FromBFloat16(t);
  return t;
}

}  // namespace flowps

// TensorCodec: flowps::Tensor <-> wire::Tensor without copying the data.
//
// Sending: WriteTensor references the tensor's bytes from the message
// (Orphanage::referenceExternalData), chunk by chunk. The message then points
// at the tensor's buffer, so that buffer must stay alive and unchanged until
// the message has been written out:
//  - a request (client side): keep the Tensor that WriteTensor returns until
//    the response arrives, e.g. `request.send().attach(kept)`; the response
//    implies the request was read in full.
//  - a response (server side): Cap'n Proto writes the results after the
//    call's promise resolves, when the service holds nothing of it. Use
//    TensorWireOptions::Copying() there, unless the buffer is immutable and
//    kept alive by the service itself for longer (e.g. a published snapshot).
// Small tensors, a buffer that is not 8-byte aligned and the last (size % 8)
// bytes are copied.
//
// Receiving: ReadTensor returns a tensor whose buffer points into the received
// message when the data arrived in one aligned chunk; `owner` keeps that message
// alive (e.g. a shared_ptr holding a capnp::Response). On the server side the
// params of a call are valid only until the call returns: pass the owner you
// have (may be null) and do not use the tensor after the call's promise
// resolves, or Clone() it. A received tensor aliases the message: never write to it.
// Chunks that lie back to back in the message (as referenced chunks of one
// tensor arrive) are read in place too. Scattered chunks, bfloat16 on the wire
// (widened back to float32) or an unaligned chunk are copied into a fresh buffer.
//
// Bad input from a peer (shape and byte count disagree, unknown dtype,
// negative dimension) gives InvalidArgument naming `what`; it never aborts.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <capnp/orphan.h>

#include "core/status.h"
#include "core/tensor.h"
#include "net/tensor.capnp.h"

namespace flowps {

struct TensorWireOptions {
  // Send float32 as bfloat16 (truncated; halves the bytes, costs one conversion copy).
  bool bfloat16 = false;
  // Target chunk size in bytes. Chunks grow beyond it so that a message holds
  // at most kMaxChunksPerTensor of them (Cap'n Proto refuses a message of 512
  // segments or more, and each referenced chunk is one segment).
  size_t chunk_bytes = size_t{1} << 20;
  // Tensors smaller than this are copied into the message: a copy of a few KiB
  // costs less than a segment of its own, and keeps many small tensors in one
  // message under the segment limit.
  size_t copy_below_bytes = size_t{64} << 10;

  // Options that copy every byte into the message (for server responses).
  static TensorWireOptions Copying() {
    TensorWireOptions o;
    o.copy_below_bytes = ~size_t{0};
    return o;
  }
};

// The most chunks WriteTensor makes for one tensor.
constexpr size_t kMaxChunksPerTensor = 64;
// The most bytes one Data blob may hold (Cap'n Proto's limit, rounded down to a word).
constexpr size_t kMaxChunkBytes = (size_t{1} << 29) - 8;

// Fills `out` from `tensor`. Returns the tensor the message now references
// (the input, or its bfloat16 conversion); keep it alive as said above.
StatusOr<Tensor> WriteTensor(const Tensor& tensor, wire::Tensor::Builder out, const TensorWireOptions& options = {});

// Reads a tensor; `what` names it in errors (e.g. "push of 'layer1/w'").
StatusOr<Tensor> ReadTensor(wire::Tensor::Reader in, std::shared_ptr<void> owner, const std::string& what);

}  // namespace flowps

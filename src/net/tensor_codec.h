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
//    TensorWireOptions::Response(keeper): the tensor's buffer is attached to
//    the response message (net/response_keeper.h) and lives until Cap'n Proto
//    has written or dropped it; where the keeper does not know the message
//    (no keeper, an in-process call) the bytes are copied. The buffer must not
//    change while it is referenced: pass an immutable one (a copy-on-write
//    snapshot, a fresh tensor nobody else writes).
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

class ResponseKeeper;

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
  // Set (a server response): a tensor is referenced only if `keeper` attaches
  // its buffer to the message being written; otherwise it is copied.
  ResponseKeeper* keeper = nullptr;

  // Options that copy every byte into the message.
  static TensorWireOptions Copying() {
    TensorWireOptions o;
    o.copy_below_bytes = ~size_t{0};
    return o;
  }
  // Options for a server response: referenced and kept by `keeper` (may be
  // null: then copied), see above.
  static TensorWireOptions Response(ResponseKeeper* keeper) {
    if (keeper == nullptr) return Copying();
    TensorWireOptions o;
    o.keeper = keeper;
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

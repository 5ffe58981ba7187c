// The tensor codec (net/tensor_codec) on any message: ReadTensor never
// crashes, and a tensor it accepts survives a round trip unchanged.
#include <cstdint>
#include <cstring>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include "fuzz_util.h"
#include "net/rpc_common.h"
#include "net/tensor_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto words = flowps::fuzz::AsWords(data, size);
  try {
    capnp::FlatArrayMessageReader reader(words, flowps::RpcReaderOptions());
    auto in = reader.getRoot<flowps::wire::Tensor>();
    auto tensor = flowps::ReadTensor(in, nullptr, "fuzz");
    if (!tensor.ok()) return 0;
    capnp::MallocMessageBuilder message;
    flowps::TensorWireOptions options;
    options.copy_below_bytes = 64;
    auto sent = flowps::WriteTensor(*tensor, message.initRoot<flowps::wire::Tensor>(), options);
    if (!sent.ok()) return 0;
    auto again = flowps::ReadTensor(message.getRoot<flowps::wire::Tensor>().asReader(), nullptr, "round trip");
    if (!again.ok() || again->shape() != tensor->shape() || again->dtype() != tensor->dtype() ||
        std::memcmp(again->raw_data(), tensor->raw_data(), tensor->num_bytes()) != 0)
      __builtin_trap();
  } catch (const kj::Exception&) {
    // A malformed message: the daemon drops that connection.
  }
  return 0;
}

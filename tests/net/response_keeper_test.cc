// ResponseKeeper and TensorWireOptions::Response: a server response references
// a tensor only if the keeper attached the tensor's buffer to the message, and
// the buffer is let go when the message is.
#include <catch2/catch.hpp>

#include <capnp/message.h>

#include "net/response_keeper.h"
#include "net/tensor_codec.h"

using namespace flowps;

namespace {

Tensor Large(float first) {
  Tensor t(DType::kFloat32, Shape{512, 256});  // 512 KiB: above copy_below_bytes
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = first + static_cast<float>(i);
  return t;
}

const void* FirstChunk(capnp::MessageBuilder& b) {
  return b.getRoot<wire::Tensor>().asReader().getChunks()[0].begin();
}

}  // namespace

TEST_CASE("a response references a tensor its keeper holds for the message, until the message is gone") {
  auto keeper = std::make_shared<ResponseKeeper>();
  Tensor t = Large(1);
  {
    KeptMessageBuilder b(keeper, 64);
    REQUIRE(WriteTensor(t, b.initRoot<wire::Tensor>(), TensorWireOptions::Response(keeper.get())).ok());
    CHECK(FirstChunk(b) == t.raw_data());  // not copied
    CHECK(keeper->attached() == 1);
    CHECK(t.buffer().use_count() == 2);  // the message holds the buffer
  }
  CHECK(keeper->attached() == 0);
  CHECK(t.buffer().use_count() == 1);
}

TEST_CASE("the keeper holds a buffer for the message it lies in, among several, in any of its segments") {
  auto keeper = std::make_shared<ResponseKeeper>();
  Tensor a = Large(1), c = Large(3);
  // A first segment of one word holds the root pointer only: the tensor lies in a later segment.
  auto first = std::make_unique<KeptMessageBuilder>(keeper, 1);
  KeptMessageBuilder second(keeper, 1);
  REQUIRE(WriteTensor(a, first->initRoot<wire::Tensor>(), TensorWireOptions::Response(keeper.get())).ok());
  REQUIRE(WriteTensor(c, second.initRoot<wire::Tensor>(), TensorWireOptions::Response(keeper.get())).ok());
  CHECK(first->getSegmentsForOutput().size() >= 2);
  CHECK(keeper->attached() == 2);
  first.reset();
  CHECK(a.buffer().use_count() == 1);
  CHECK(c.buffer().use_count() == 2);  // still in the second message
  CHECK(keeper->attached() == 1);
}

TEST_CASE("a response the keeper does not know, or without a keeper, copies the tensor") {
  auto keeper = std::make_shared<ResponseKeeper>();
  Tensor t = Large(2);
  capnp::MallocMessageBuilder plain;  // e.g. an in-process call's message
  REQUIRE(WriteTensor(t, plain.initRoot<wire::Tensor>(), TensorWireOptions::Response(keeper.get())).ok());
  CHECK(FirstChunk(plain) != t.raw_data());
  CHECK(keeper->attached() == 0);
  CHECK(t.buffer().use_count() == 1);
  capnp::MallocMessageBuilder none;
  REQUIRE(WriteTensor(t, none.initRoot<wire::Tensor>(), TensorWireOptions::Response(nullptr)).ok());
  CHECK(FirstChunk(none) != t.raw_data());
  auto back = none.getRoot<wire::Tensor>().asReader().getChunks()[0];
  CHECK(reinterpret_cast<const float*>(back.begin())[7] == 9.0f);
}

TEST_CASE("a small tensor in a kept response is copied and nothing is attached") {
  auto keeper = std::make_shared<ResponseKeeper>();
  KeptMessageBuilder b(keeper, 64);
  Tensor t = Tensor::FromVector<float>(Shape{4}, {1, 2, 3, 4});
  REQUIRE(WriteTensor(t, b.initRoot<wire::Tensor>(), TensorWireOptions::Response(keeper.get())).ok());
  CHECK(FirstChunk(b) != t.raw_data());
  CHECK(keeper->attached() == 0);
}

#include <catch2/catch.hpp>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include "net/rpc_common.h"
#include "net/tensor_codec.h"

using namespace flowps;

namespace {

// Serialises a message to words and reads it back, as the wire does.
struct Wire {
  explicit Wire(capnp::MessageBuilder& b)
      : words(capnp::messageToFlatArray(b)), reader(words.asPtr(), RpcReaderOptions()) {}
  kj::Array<capnp::word> words;
  capnp::FlatArrayMessageReader reader;
};

}  // namespace

TEST_CASE("a small tensor is copied into the message and read back equal") {
  capnp::MallocMessageBuilder b;
  Tensor t = Tensor::FromVector<int32_t>(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  auto kept = WriteTensor(t, b.initRoot<wire::Tensor>());
  REQUIRE(kept.ok());
  Wire w(b);
  auto back = ReadTensor(w.reader.getRoot<wire::Tensor>(), nullptr, "t");
  REQUIRE(back.ok());
  CHECK(back->dtype() == DType::kInt32);
  CHECK(back->shape() == Shape({2, 3}));
  CHECK(back->ToVector<int32_t>() == std::vector<int32_t>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("float32 sent as bfloat16 halves the bytes and comes back truncated") {
  capnp::MallocMessageBuilder b;
  std::vector<float> v(40000, 1.0f / 3.0f);
  Tensor t = Tensor::FromVector<float>(Shape{40000}, v);
  TensorWireOptions o;
  o.bfloat16 = true;
  auto kept = WriteTensor(t, b.initRoot<wire::Tensor>(), o);
  REQUIRE(kept.ok());
  CHECK(kept->dtype() == DType::kBFloat16);
  size_t bytes = 0;
  for (auto c : b.getRoot<wire::Tensor>().asReader().getChunks()) bytes += c.size();
  CHECK(bytes == 80000);
  Wire w(b);
  auto back = ReadTensor(w.reader.getRoot<wire::Tensor>(), nullptr, "t");
  REQUIRE(back.ok());
  CHECK(back->dtype() == DType::kFloat32);
  CHECK(back->data<float>()[7] == BFloat16ToFloat(FloatToBFloat16(1.0f / 3.0f)));
}

TEST_CASE("a large aligned tensor is referenced, not copied, and a single chunk is read in place") {
  capnp::MallocMessageBuilder b;
  Tensor t = Tensor::Zeros(DType::kFloat32, Shape{256, 256});  // 256 KiB: one referenced chunk
  t.data<float>()[5] = 2.5f;
  auto kept = WriteTensor(t, b.initRoot<wire::Tensor>());
  REQUIRE(kept.ok());
  CHECK(kept->SharesBufferWith(t));
  auto chunks = b.getRoot<wire::Tensor>().asReader().getChunks();
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0].begin() == t.raw_data());
  Wire w(b);
  auto root = w.reader.getRoot<wire::Tensor>();
  auto back = ReadTensor(root, nullptr, "t");
  REQUIRE(back.ok());
  CHECK(back->raw_data() == root.getChunks()[0].begin());
  CHECK(back->data<float>()[5] == 2.5f);
}

TEST_CASE("a tensor of several referenced chunks arrives back to back and is read in place") {
  // A first segment with no room left: each chunk's pointer needs a landing
  // pad in a segment of its own, which must not come between two chunks.
  capnp::MallocMessageBuilder b(8, capnp::AllocationStrategy::FIXED_SIZE);
  Tensor t = Tensor::Zeros(DType::kFloat32, Shape{4, 1 << 18});  // 4 MiB: four chunks of 1 MiB
  t.data<float>()[(3 << 18) + 7] = -1.5f;
  auto kept = WriteTensor(t, b.initRoot<wire::Tensor>());
  REQUIRE(kept.ok());
  REQUIRE(b.getRoot<wire::Tensor>().asReader().getChunks().size() == 4);
  Wire w(b);
  auto root = w.reader.getRoot<wire::Tensor>();
  auto back = ReadTensor(root, nullptr, "t");
  REQUIRE(back.ok());
  CHECK(back->raw_data() == root.getChunks()[0].begin());
  CHECK(back->data<float>()[(3 << 18) + 7] == -1.5f);
}

TEST_CASE("a misaligned slice is sent by copy and arrives intact") {
  capnp::MallocMessageBuilder b;
  std::vector<float> v(3 * 30001);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  Tensor t = Tensor::FromVector<float>(Shape{3 * 30001}, v).Slice(1, 3 * 30001);  // 4 bytes in
  auto kept = WriteTensor(t, b.initRoot<wire::Tensor>());
  REQUIRE(kept.ok());
  Wire w(b);
  auto back = ReadTensor(w.reader.getRoot<wire::Tensor>(), nullptr, "t");
  REQUIRE(back.ok());
  CHECK(back->ToVector<float>() == t.ToVector<float>());
}

TEST_CASE("a peer's bad tensor is refused with what was wrong") {
  capnp::MallocMessageBuilder b;
  auto w = b.initRoot<wire::Tensor>();
  SECTION("an unknown dtype") {
    w.setDtype(static_cast<wire::DType>(9));
    auto r = ReadTensor(w.asReader(), nullptr, "push of 'w'");
    CHECK(r.status().message() == "push of 'w': unknown dtype 9");
  }
  SECTION("a negative dimension") {
    w.setDtype(wire::DType::FLOAT32);
    w.initShape(1).set(0, -4);
    auto r = ReadTensor(w.asReader(), nullptr, "push of 'w'");
    CHECK(r.status().message() == "push of 'w': negative dimension -4 in the shape");
  }
  SECTION("too few bytes for the shape") {
    w.setDtype(wire::DType::INT64);
    w.initShape(1).set(0, 3);
    w.initChunks(1).set(0, kj::heapArray<kj::byte>(16));
    auto r = ReadTensor(w.asReader(), nullptr, "push of 'w'");
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK(r.status().message() == "push of 'w': shape [3] of int64 needs 24 bytes, the message has 16");
  }
}

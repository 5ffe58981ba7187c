#include <catch2/catch.hpp>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include "net/rpc_common.h"
#include "net/tensor_codec.h"

using namespace flowps;

TEST_CASE("a tensor over the 512 MiB Data limit is chunked and arrives intact") {
  const int64_t n = (int64_t{1} << 27) + 3;  // 512 MiB + 12 bytes of float32
  Tensor t(DType::kFloat32, Shape{n});
  float* p = t.data<float>();
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(i & 0xffff);
  capnp::MallocMessageBuilder b;
  auto kept = WriteTensor(t, b.initRoot<wire::Tensor>());
  REQUIRE(kept.ok());
  auto chunks = b.getRoot<wire::Tensor>().asReader().getChunks();
  CHECK(chunks.size() <= kMaxChunksPerTensor + 1);
  for (auto c : chunks) CHECK(c.size() <= kMaxChunkBytes);
  CHECK(chunks[0].begin() == t.raw_data());

  auto words = capnp::messageToFlatArray(b);
  capnp::FlatArrayMessageReader reader(words.asPtr(), RpcReaderOptions());
  auto back = ReadTensor(reader.getRoot<wire::Tensor>(), nullptr, "big");
  REQUIRE(back.ok());
  REQUIRE(back->num_elements() == n);
  const float* q = back->data<float>();
  int64_t mismatches = 0;
  for (int64_t i = 0; i < n; ++i) mismatches += q[i] != static_cast<float>(i & 0xffff);
  CHECK(mismatches == 0);
}

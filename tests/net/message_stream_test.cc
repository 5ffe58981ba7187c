// BatchingMessageStream, the framing under every flowps connection: messages
// of any size and segment count arrive intact and in order, the small ones a
// turn of work makes go out in one write, and a peer's bad framing is refused
// before anything is allocated for it. Over an in-memory pipe.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/async-io.h>

#include "net/message_stream.h"

using namespace flowps;

namespace {

// A message of `segments` segments, each of `words` words, segment i filled with the byte i + 1.
struct RawMessage {
  std::vector<kj::Array<capnp::word>> storage;
  kj::Array<kj::ArrayPtr<const capnp::word>> segments;
};

RawMessage MakeMessage(size_t segments, size_t words) {
  RawMessage m;
  m.segments = kj::heapArray<kj::ArrayPtr<const capnp::word>>(segments);
  for (size_t i = 0; i < segments; ++i) {
    auto s = kj::heapArray<capnp::word>(words);
    std::memset(s.begin(), static_cast<int>(i + 1), words * sizeof(capnp::word));
    m.segments[i] = s.asPtr();
    m.storage.push_back(kj::mv(s));
  }
  return m;
}

// Whether `reader` holds exactly the segments of MakeMessage(segments, words).
bool SameAs(capnp::MessageReader& reader, size_t segments, size_t words) {
  for (size_t i = 0; i < segments; ++i) {
    auto s = reader.getSegment(static_cast<uint>(i));
    if (s.size() != words) return false;
    for (size_t b = 0; b < s.asBytes().size(); ++b)
      if (s.asBytes()[b] != static_cast<kj::byte>(i + 1)) return false;
  }
  return reader.getSegment(static_cast<uint>(segments)) == nullptr;
}

capnp::ReaderOptions Options() {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = uint64_t{1} << 30;
  return o;
}

}  // namespace

TEST_CASE("messages of every size and segment count arrive intact and in order") {
  auto io = kj::setupAsyncIo();
  auto pipe = io.provider->newTwoWayPipe();
  BatchingMessageStream sender(*pipe.ends[0]);
  BatchingMessageStream receiver(*pipe.ends[1]);
  // (segments, words): tiny, two segments, larger than a read block, many segments, a large multi-segment one.
  const std::vector<std::pair<size_t, size_t>> shapes = {{1, 1}, {2, 3}, {1, 20000}, {7, 5}, {300, 1}, {5, 30000}, {1, 2}};
  std::vector<RawMessage> messages;
  for (auto [segments, words] : shapes) messages.push_back(MakeMessage(segments, words));
  kj::Vector<kj::Promise<void>> writes;
  for (auto& m : messages) writes.add(sender.writeMessage(nullptr, m.segments));
  auto written = kj::joinPromises(writes.releaseAsArray());
  for (auto [segments, words] : shapes) {
    auto read = receiver.tryReadMessage(nullptr, Options(), nullptr).wait(io.waitScope);
    KJ_IF_MAYBE(r, read) { CHECK(SameAs(*r->reader, segments, words)); }
    else FAIL("the stream ended early");
  }
  written.wait(io.waitScope);
}

TEST_CASE("small messages made in one turn go out in one write") {
  auto io = kj::setupAsyncIo();
  auto pipe = io.provider->newTwoWayPipe();
  BatchingMessageStream sender(*pipe.ends[0]);
  BatchingMessageStream receiver(*pipe.ends[1]);
  std::vector<RawMessage> messages;
  for (int i = 0; i < 3; ++i) messages.push_back(MakeMessage(1, 4));
  for (auto& m : messages) sender.writeMessage(nullptr, m.segments).wait(io.waitScope);  // each done at once
  for (int i = 0; i < 3; ++i) {
    auto read = receiver.tryReadMessage(nullptr, Options(), nullptr).wait(io.waitScope);
    REQUIRE(read != nullptr);
  }
  CHECK(sender.writes() == 1);
  CHECK(receiver.reads() == 1);  // the three arrived in one read
}

TEST_CASE("a clean end of the stream reads as no message, a cut message as an error") {
  auto io = kj::setupAsyncIo();
  SECTION("clean end") {
    auto pipe = io.provider->newTwoWayPipe();
    BatchingMessageStream receiver(*pipe.ends[1]);
    pipe.ends[0]->shutdownWrite();
    CHECK(receiver.tryReadMessage(nullptr, Options(), nullptr).wait(io.waitScope) == nullptr);
  }
  SECTION("cut in the middle") {
    auto pipe = io.provider->newTwoWayPipe();
    BatchingMessageStream receiver(*pipe.ends[1]);
    const uint32_t header[2] = {0, 100};  // one segment of 100 words, then only 8 bytes of it
    const uint64_t some = 7;
    pipe.ends[0]->write(header, sizeof header).wait(io.waitScope);
    pipe.ends[0]->write(&some, sizeof some).wait(io.waitScope);
    pipe.ends[0]->shutdownWrite();
    CHECK_THROWS_WITH(receiver.tryReadMessage(nullptr, Options(), nullptr).wait(io.waitScope),
                      Catch::Contains("Premature EOF"));
  }
}

TEST_CASE("a peer's frame with too many segments or too many words is refused before it is allocated") {
  auto io = kj::setupAsyncIo();
  auto pipe = io.provider->newTwoWayPipe();
  BatchingMessageStream receiver(*pipe.ends[1]);
  capnp::ReaderOptions small;
  small.traversalLimitInWords = 1000;
  SECTION("512 segments") {
    const uint32_t header[2] = {511, 1};
    pipe.ends[0]->write(header, sizeof header).wait(io.waitScope);
    CHECK_THROWS_WITH(receiver.tryReadMessage(nullptr, small, nullptr).wait(io.waitScope),
                      Catch::Contains("too many segments"));
  }
  SECTION("more words than the reader allows (a 32 GiB claim)") {
    const uint32_t header[2] = {0, 0xFFFFFFFFu};
    pipe.ends[0]->write(header, sizeof header).wait(io.waitScope);
    CHECK_THROWS_WITH(receiver.tryReadMessage(nullptr, small, nullptr).wait(io.waitScope),
                      Catch::Contains("too large"));
  }
}

namespace {

// Counts its live instances (what Send keeps).
struct Kept {
  explicit Kept(int* live) : live(live) { ++*live; }
  ~Kept() { --*live; }
  int* live;
};

}  // namespace

TEST_CASE("Send keeps a large message's owner until its bytes are written, a small one's not at all") {
  auto io = kj::setupAsyncIo();
  auto pipe = io.provider->newTwoWayPipe();
  BatchingMessageStream sender(*pipe.ends[0]);
  BatchingMessageStream receiver(*pipe.ends[1]);
  int live = 0;
  RawMessage small = MakeMessage(1, 4);
  sender.Send(small.segments, kj::heap<Kept>(&live));
  CHECK(live == 0);  // copied into the batch
  // Far more than a pipe buffers: the write waits for the reader.
  RawMessage large = MakeMessage(3, 1 << 20);
  sender.Send(large.segments, kj::heap<Kept>(&live));
  io.waitScope.poll();
  CHECK(live == 1);  // written only in part: the reader has not read
  auto first = receiver.tryReadMessage(nullptr, Options(), nullptr).wait(io.waitScope);
  auto second = receiver.tryReadMessage(nullptr, Options(), nullptr).wait(io.waitScope);
  KJ_IF_MAYBE(r, first) { CHECK(SameAs(*r->reader, 1, 4)); } else FAIL("the stream ended early");
  KJ_IF_MAYBE(r, second) { CHECK(SameAs(*r->reader, 3, 1 << 20)); } else FAIL("the stream ended early");
  io.waitScope.poll();
  CHECK(live == 0);
}

TEST_CASE("a failed write drops what Send keeps and fails the later reads of that stream") {
  auto io = kj::setupAsyncIo();
  auto pipe = io.provider->newTwoWayPipe();
  BatchingMessageStream stream(*pipe.ends[0]);
  pipe.ends[0]->shutdownWrite();  // writes fail from now on; the peer is still there to read from
  int live = 0;
  RawMessage large = MakeMessage(1, 1 << 16);
  stream.Send(large.segments, kj::heap<Kept>(&live));
  stream.Send(large.segments, kj::heap<Kept>(&live));
  io.waitScope.poll();
  CHECK(live == 0);
  // The peer could still send, but this stream's reads fail: the connection is broken.
  CHECK_THROWS(stream.tryReadMessage(nullptr, Options(), nullptr).wait(io.waitScope));
}

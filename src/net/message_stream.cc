#include "net/message_stream.h"

#include <sys/socket.h>

#include <cstring>

#include <kj/debug.h>

namespace flowps {
namespace {

using capnp::word;

// Cap'n Proto refuses a message of this many segments or more.
constexpr size_t kMaxSegments = 512;

uint32_t Le32(const kj::byte* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

void PutLe32(kj::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<kj::byte>(v >> (8 * i));
}

// Bytes of the segment table of a message of `segments` segments (padded to a word).
size_t TableBytes(size_t segments) { return (segments / 2 + 1) * sizeof(word); }

// The segment table of `segments`, written to `out` (TableBytes long).
void WriteTable(kj::ArrayPtr<const kj::ArrayPtr<const word>> segments, kj::byte* out) {
  std::memset(out, 0, TableBytes(segments.size()));
  PutLe32(out, static_cast<uint32_t>(segments.size() - 1));
  for (size_t i = 0; i < segments.size(); ++i) PutLe32(out + 4 * (i + 1), static_cast<uint32_t>(segments[i].size()));
}

// A reader over `words`, cut into segments of the sizes in `table`.
kj::Own<capnp::MessageReader> ReaderOver(kj::Array<word> words, const kj::byte* table, size_t segments,
                                         capnp::ReaderOptions options) {
  auto pieces = kj::heapArray<kj::ArrayPtr<const word>>(segments);
  const word* at = words.begin();
  for (size_t i = 0; i < segments; ++i) {
    const size_t n = Le32(table + 4 * (i + 1));
    pieces[i] = kj::arrayPtr(at, n);
    at += n;
  }
  auto reader = kj::heap<capnp::SegmentArrayMessageReader>(pieces.asPtr(), options);
  return reader.attach(kj::mv(pieces), kj::mv(words));
}

}  // namespace

BatchingMessageStream::BatchingMessageStream(kj::AsyncIoStream& stream)
    : stream_(stream), buffer_(kj::heapArray<kj::byte>(kReadBlockBytes)), written_(kj::Promise<void>(kj::READY_NOW).fork()) {}

BatchingMessageStream::~BatchingMessageStream() noexcept(false) = default;

kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> BatchingMessageStream::tryReadMessage(
    kj::ArrayPtr<kj::AutoCloseFd>, capnp::ReaderOptions options, kj::ArrayPtr<word>) {
  KJ_IF_MAYBE(e, write_failure_) { return kj::cp(*e); }
  return ReadFrom(options);
}

kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> BatchingMessageStream::ReadFrom(capnp::ReaderOptions options) {
  const size_t available = end_ - begin_;
  const kj::byte* at = buffer_.begin() + begin_;
  if (available >= sizeof(word)) {
    const size_t segments = size_t{Le32(at)} + 1;
    if (segments >= kMaxSegments)
      return KJ_EXCEPTION(FAILED, "Message has too many segments.", segments);
    const size_t table_bytes = TableBytes(segments);
    if (available >= table_bytes) {
      uint64_t total_words = 0;
      for (size_t i = 0; i < segments; ++i) total_words += Le32(at + 4 * (i + 1));
      if (total_words > options.traversalLimitInWords)
        return KJ_EXCEPTION(FAILED,
                            "Message is too large. To increase the limit on the receiving end, see "
                            "capnp::ReaderOptions.",
                            total_words, options.traversalLimitInWords);
      const uint64_t message_bytes = table_bytes + total_words * sizeof(word);
      if (available >= message_bytes) {
        auto words = kj::heapArray<word>(total_words);
        std::memcpy(words.begin(), at + table_bytes, total_words * sizeof(word));
        begin_ += message_bytes;
        capnp::MessageReaderAndFds result{ReaderOver(kj::mv(words), at, segments, options), nullptr};
        return kj::Maybe<capnp::MessageReaderAndFds>(kj::mv(result));
      }
      if (message_bytes > buffer_.size()) return ReadLarge(table_bytes, total_words, options);
    }
  }
  // More bytes are needed: keep what is buffered at the front and read a block.
  if (begin_ > 0) {
    std::memmove(buffer_.begin(), buffer_.begin() + begin_, available);
    begin_ = 0;
    end_ = available;
  }
  ++reads_;
  return stream_.tryRead(buffer_.begin() + end_, 1, buffer_.size() - end_)
      .then([this, options](size_t n) -> kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> {
        if (n == 0) {
          if (end_ == begin_) return kj::Maybe<capnp::MessageReaderAndFds>(nullptr);  // a clean end
          return KJ_EXCEPTION(DISCONNECTED, "Premature EOF.");
        }
        end_ += n;
        return ReadFrom(options);
      });
}

// A message larger than the buffer: the part already buffered is copied into
// the message's words, the rest is read straight into them.
kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> BatchingMessageStream::ReadLarge(size_t table_bytes,
                                                                                  size_t total_words,
                                                                                  capnp::ReaderOptions options) {
  const kj::byte* at = buffer_.begin() + begin_;
  const size_t segments = size_t{Le32(at)} + 1;
  auto table = kj::heapArray<kj::byte>(at, table_bytes);
  auto words = kj::heapArray<word>(total_words);
  const size_t have = end_ - begin_ - table_bytes;
  std::memcpy(words.begin(), at + table_bytes, have);
  begin_ = end_ = 0;
  kj::byte* rest = reinterpret_cast<kj::byte*>(words.begin()) + have;
  const size_t missing = total_words * sizeof(word) - have;
  ++reads_;
  return stream_.tryRead(rest, missing, missing)
      .then([missing, segments, options, table = kj::mv(table), words = kj::mv(words)](
                size_t n) mutable -> kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> {
        if (n < missing) return KJ_EXCEPTION(DISCONNECTED, "Premature EOF.");
        capnp::MessageReaderAndFds result{ReaderOver(kj::mv(words), table.begin(), segments, options), nullptr};
        return kj::Maybe<capnp::MessageReaderAndFds>(kj::mv(result));
      });
}

kj::Promise<void> BatchingMessageStream::writeMessage(kj::ArrayPtr<const int>,
                                                      kj::ArrayPtr<const kj::ArrayPtr<const word>> segments) {
  return Write(segments, kj::Own<void>());
}

void BatchingMessageStream::Send(kj::ArrayPtr<const kj::ArrayPtr<const word>> segments, kj::Own<void> keep) {
  // The write goes on without the promise (written_ carries it out), and keeps `keep` until then.
  (void)Write(segments, kj::mv(keep));
}

kj::Promise<void> BatchingMessageStream::Write(kj::ArrayPtr<const kj::ArrayPtr<const word>> segments,
                                               kj::Own<void> keep) {
  KJ_REQUIRE(segments.size() > 0, "tried to write a message with no segments");
  const size_t table_bytes = TableBytes(segments.size());
  size_t bytes = table_bytes;
  for (auto s : segments) bytes += s.size() * sizeof(word);
  if (bytes <= kCopyBelowBytes) {
    const size_t start = batch_.size();
    batch_.resize(start + bytes);
    kj::byte* out = batch_.begin() + start;
    WriteTable(segments, out);
    out += table_bytes;
    for (auto s : segments) {
      std::memcpy(out, s.begin(), s.size() * sizeof(word));
      out += s.size() * sizeof(word);
    }
    if (!flush_scheduled_) {
      flush_scheduled_ = true;
      flush_ = kj::evalLast([this]() {
                 flush_scheduled_ = false;
                 FlushBatch();
               }).eagerlyEvaluate(nullptr);
    }
    return kj::READY_NOW;
  }
  FlushBatch();  // what was made before goes first
  auto table = kj::heapArray<kj::byte>(table_bytes);
  WriteTable(segments, table.begin());
  auto pieces = kj::heapArray<kj::ArrayPtr<const kj::byte>>(segments.size() + 1);
  pieces[0] = table.asPtr();
  for (size_t i = 0; i < segments.size(); ++i) pieces[i + 1] = segments[i].asBytes();
  return Chain(kj::mv(table), kj::mv(pieces), kj::mv(keep));
}

kj::Promise<void> BatchingMessageStream::writeMessages(
    kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const word>>> messages) {
  kj::Promise<void> last = kj::READY_NOW;
  for (auto segments : messages) last = writeMessage(nullptr, segments);
  return last;  // writes complete in order: the last one done means all are
}

void BatchingMessageStream::FlushBatch() {
  if (batch_.size() == 0) return;
  auto owned = batch_.releaseAsArray();
  auto pieces = kj::heapArray<kj::ArrayPtr<const kj::byte>>(1);
  pieces[0] = owned.asPtr();
  // Nobody waits for this write: written_ (a fork, evaluated eagerly) carries
  // it out, and a failure shows on the read side as a broken connection.
  (void)Chain(kj::mv(owned), kj::mv(pieces));
}

kj::Promise<void> BatchingMessageStream::Chain(kj::Array<kj::byte> owned,
                                               kj::Array<kj::ArrayPtr<const kj::byte>> pieces, kj::Own<void> keep) {
  // After a failed write the lambda is not run but dropped (with what it keeps).
  auto write = written_.addBranch()
                   .then([this, owned = kj::mv(owned), pieces = kj::mv(pieces), keep = kj::mv(keep)]() mutable {
                     ++writes_;
                     return stream_.write(pieces.asPtr()).attach(kj::mv(owned), kj::mv(pieces), kj::mv(keep));
                   })
                   .catch_([this](kj::Exception&& e) -> kj::Promise<void> {
                     WriteFailed(e);
                     return kj::mv(e);
                   })
                   .fork();
  written_ = kj::mv(write);
  return written_.addBranch();
}

void BatchingMessageStream::WriteFailed(const kj::Exception& e) {
  if (write_failure_ == nullptr) write_failure_ = kj::cp(e);
}

kj::Maybe<int> BatchingMessageStream::getSendBufferSize() {
  int size = 0;
  uint length = sizeof(size);
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { stream_.getsockopt(SOL_SOCKET, SO_SNDBUF, &size, &length); })) {
    (void)e;
    return nullptr;
  }
  return size;
}

kj::Promise<void> BatchingMessageStream::end() {
  FlushBatch();
  return written_.addBranch().then([this]() { stream_.shutdownWrite(); });
}

}  // namespace flowps

// BatchingMessageStream: the Cap'n Proto message stream under both ends of
// every flowps connection (RpcClient and RpcServer hand it to
// TwoPartyVatNetwork), in place of capnp's AsyncIoMessageStream, which makes
// two or three read() calls per message (the first word, the rest of the
// segment table, the segments) and one writev() per message.
//
// Reading: bytes are read in blocks of up to kReadBlockBytes into a buffer and
// as many messages as arrived are cut out of it, so that a small message costs
// one read() and messages that arrive together cost one between them. A
// message larger than the block is read straight into its own words after the
// part already buffered (no second copy of a tensor). The same limits as
// capnp's reader hold: fewer than 512 segments, at most
// ReaderOptions::traversalLimitInWords words, checked before the message is
// allocated.
//
// Writing: a small message (at most kCopyBelowBytes) is copied into a batch
// and its write is reported done at once; the batch goes out in one write
// when the event loop has run everything else that was ready (kj::evalLast),
// so the messages one turn of work produces -- e.g. a Finish for the last
// answer and the next Call -- share one writev() and wake the peer once. A
// larger message is written from its own segments (not copied) after the
// batch, and its promise resolves when it is written. Writes go out in the
// order they were made. A failed write fails every later one, and every later
// read fails with the same error, so that the RPC system sees the broken
// connection even if the socket still reads (a read already waiting ends as
// the socket does: wrapping every read to cancel it costs each message more
// than the rare case is worth). A batched message
// goes out the next time the loop runs out of ready work: a thread that stops
// running its loop right after a wait() (as with capnp's stream, whose writes
// also wait for a turn of the loop) holds back what that wait left, e.g. the
// Finish of the answer it waited for, until it runs the loop again.
//
// Threads: belongs to the event loop of `stream`; not thread-safe. `stream`
// must outlive this object.
#pragma once

#include <cstddef>

#include <capnp/serialize-async.h>
#include <kj/async-io.h>

namespace flowps {

class BatchingMessageStream final : public capnp::MessageStream {
 public:
  static constexpr size_t kReadBlockBytes = 64 * 1024;
  static constexpr size_t kCopyBelowBytes = 16 * 1024;

  explicit BatchingMessageStream(kj::AsyncIoStream& stream);
  ~BatchingMessageStream() noexcept(false);

  kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> tryReadMessage(kj::ArrayPtr<kj::AutoCloseFd> fdSpace,
                                                                   capnp::ReaderOptions options,
                                                                   kj::ArrayPtr<capnp::word> scratchSpace) override;
  kj::Promise<void> writeMessage(kj::ArrayPtr<const int> fds,
                                 kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) override;
  kj::Promise<void> writeMessages(
      kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) override;
  kj::Maybe<int> getSendBufferSize() override;
  kj::Promise<void> end() override;

  // Writes like writeMessage and keeps `keep` until the message's bytes have
  // been written (a small message is copied: at once), or the write failed:
  // e.g. the message that owns `segments` (net/vat_network.h).
  void Send(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments, kj::Own<void> keep);

  // Counters since construction (for tests and benchmarks).
  size_t reads() const { return reads_; }
  size_t writes() const { return writes_; }

 private:
  kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> ReadFrom(capnp::ReaderOptions options);
  kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> ReadLarge(size_t table_bytes, size_t total_words,
                                                               capnp::ReaderOptions options);
  kj::Promise<void> Write(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments, kj::Own<void> keep);
  // Appends `pieces` to the write chain (after every earlier write); `owned`
  // and `keep` are dropped once they are written.
  kj::Promise<void> Chain(kj::Array<kj::byte> owned, kj::Array<kj::ArrayPtr<const kj::byte>> pieces,
                          kj::Own<void> keep = kj::Own<void>());
  void FlushBatch();
  void WriteFailed(const kj::Exception& e);

  kj::AsyncIoStream& stream_;
  // Read side: buffer_[begin_, end_) are bytes read and not yet cut into messages.
  kj::Array<kj::byte> buffer_;
  size_t begin_ = 0, end_ = 0;
  // Write side.
  kj::Vector<kj::byte> batch_;
  bool flush_scheduled_ = false;
  kj::Promise<void> flush_ = nullptr;
  kj::ForkedPromise<void> written_;  // the last write in the chain
  kj::Maybe<kj::Exception> write_failure_;  // fails the reads that start after it
  size_t reads_ = 0, writes_ = 0;
};

}  // namespace flowps

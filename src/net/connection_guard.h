// What a daemon does to a connection before it has logged in: it reads only
// small messages and notices when the peer stops sending.
//
// FrameSizeCheck follows the Cap'n Proto stream framing (a segment table, then
// the segments) byte by byte and refuses a message whose table declares more
// than a limit, before the reader allocates room for it. GuardedStream wraps
// an accepted stream: while the connection is not logged in it runs every byte
// read through a FrameSizeCheck and records when the last byte arrived; after
// Authenticate() it only forwards.
//
// Threads: both belong to the event loop of the connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <kj/async-io.h>
#include <kj/timer.h>

namespace flowps {

class FrameSizeCheck {
 public:
  explicit FrameSizeCheck(uint64_t max_message_bytes) : max_bytes_(max_message_bytes) {}

  // Consumes `n` bytes of the stream. Returns false (and sets error()) once a
  // message's segment table declares more than the limit or 512 segments or
  // more; every later call returns false too.
  bool Feed(const unsigned char* data, size_t n);
  const std::string& error() const { return error_; }

 private:
  bool Refuse(std::string why);

  uint64_t max_bytes_;
  // The framing state: the first word, then the rest of the table, then the body.
  enum class Part { kFirstWord, kTable, kBody } part_ = Part::kFirstWord;
  unsigned char word_[8] = {};
  size_t word_fill_ = 0;       // bytes of the first word (or of a table entry) gathered
  uint32_t segments_ = 0;      // segment count of the current message
  uint32_t sizes_read_ = 0;    // segment sizes read so far
  uint64_t table_left_ = 0;    // bytes of the table after the first word (with padding)
  uint64_t words_ = 0;         // words declared so far
  uint64_t body_left_ = 0;     // bytes of segments still to come
  std::string error_;
};

class GuardedStream final : public kj::AsyncIoStream {
 public:
  // `max_message_bytes_before_login`: the largest message read before Authenticate().
  GuardedStream(kj::Own<kj::AsyncIoStream> inner, kj::Timer& timer, uint64_t max_message_bytes_before_login);

  // From now on every message size is allowed (the reader's own limit applies).
  void Authenticate() { authenticated_ = true; }
  bool authenticated() const { return authenticated_; }
  // When the last byte was read (or the stream was made, or Touch() was called).
  kj::TimePoint last_read() const { return last_read_; }
  // Restarts the idle clock (the server just answered, e.g. a delayed login).
  void Touch() { last_read_ = timer_.now(); }

  kj::Promise<size_t> tryRead(void* buffer, size_t minBytes, size_t maxBytes) override;
  kj::Promise<void> write(const void* buffer, size_t size) override;
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override;
  kj::Promise<void> whenWriteDisconnected() override;
  void shutdownWrite() override;
  void abortRead() override;
  void getsockopt(int level, int option, void* value, uint* length) override;
  void setsockopt(int level, int option, const void* value, uint length) override;
  void getsockname(struct sockaddr* addr, uint* length) override;
  void getpeername(struct sockaddr* addr, uint* length) override;
  kj::Maybe<int> getFd() const override;

 private:
  kj::Promise<size_t> ReadChecked(unsigned char* buffer, size_t minBytes, size_t maxBytes, size_t done);

  kj::Own<kj::AsyncIoStream> inner_;
  kj::Timer& timer_;
  FrameSizeCheck check_;
  bool authenticated_ = false;
  kj::TimePoint last_read_;
};

}  // namespace flowps

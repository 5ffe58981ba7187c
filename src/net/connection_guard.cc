#include "net/connection_guard.h"

#include <algorithm>

#include <kj/debug.h>

namespace flowps {
namespace {

// Cap'n Proto refuses a message of this many segments or more.
constexpr uint64_t kMaxSegments = 512;

uint32_t Le32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

std::string Bytes(uint64_t n) {
  if (n >= (uint64_t{1} << 20)) return std::to_string(n >> 20) + " MiB";
  if (n >= (uint64_t{1} << 10)) return std::to_string(n >> 10) + " KiB";
  return std::to_string(n) + " bytes";
}

}  // namespace

bool FrameSizeCheck::Refuse(std::string why) {
  if (error_.empty()) error_ = std::move(why);
  return false;
}

bool FrameSizeCheck::Feed(const unsigned char* data, size_t n) {
  if (!error_.empty()) return false;
  while (n > 0) {
    switch (part_) {
      case Part::kFirstWord: {
        size_t take = std::min(n, sizeof word_ - word_fill_);
        std::copy(data, data + take, word_ + word_fill_);
        word_fill_ += take;
        data += take;
        n -= take;
        if (word_fill_ < sizeof word_) break;
        const uint64_t segments = uint64_t{Le32(word_)} + 1;
        if (segments >= kMaxSegments)
          return Refuse("a message of " + std::to_string(segments) + " segments before login");
        segments_ = static_cast<uint32_t>(segments);
        words_ = Le32(word_ + 4);
        sizes_read_ = 1;
        word_fill_ = 0;
        table_left_ = (4 * (1 + segments) + 7) / 8 * 8 - 8;
        part_ = Part::kTable;
        break;
      }
      case Part::kTable: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(n, table_left_));
        for (size_t i = 0; i < take; ++i) {
          if (sizes_read_ >= segments_) continue;  // padding after the last size
          word_[word_fill_++] = data[i];
          if (word_fill_ == 4) {
            words_ += Le32(word_);
            ++sizes_read_;
            word_fill_ = 0;
          }
        }
        data += take;
        n -= take;
        table_left_ -= take;
        break;
      }
      case Part::kBody: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(n, body_left_));
        data += take;
        n -= take;
        body_left_ -= take;
        break;
      }
    }
    if (words_ * 8 > max_bytes_)
      return Refuse("a message of " + Bytes(words_ * 8) + " before login (at most " + Bytes(max_bytes_) +
                    " until the peer has logged in)");
    if (part_ == Part::kTable && table_left_ == 0) {
      part_ = Part::kBody;
      body_left_ = words_ * 8;
    }
    if (part_ == Part::kBody && body_left_ == 0) {
      part_ = Part::kFirstWord;
      words_ = 0;
    }
  }
  return true;
}

GuardedStream::GuardedStream(kj::Own<kj::AsyncIoStream> inner, kj::Timer& timer,
                             uint64_t max_message_bytes_before_login)
    : inner_(kj::mv(inner)), timer_(timer), check_(max_message_bytes_before_login), last_read_(timer.now()) {}

kj::Promise<size_t> GuardedStream::tryRead(void* buffer, size_t minBytes, size_t maxBytes) {
  if (authenticated_) return inner_->tryRead(buffer, minBytes, maxBytes);  // nothing more to watch
  return ReadChecked(static_cast<unsigned char*>(buffer), minBytes, maxBytes, 0);
}

// Reads what has arrived (at least one byte) so that every byte is checked
// and timed as it comes, until `minBytes` are there.
kj::Promise<size_t> GuardedStream::ReadChecked(unsigned char* buffer, size_t minBytes, size_t maxBytes, size_t done) {
  if (authenticated_) {
    if (done >= minBytes) return done;
    return inner_->tryRead(buffer + done, minBytes - done, maxBytes - done).then([done](size_t n) { return done + n; });
  }
  return inner_->tryRead(buffer + done, 1, maxBytes - done)
      .then([this, buffer, minBytes, maxBytes, done](size_t n) -> kj::Promise<size_t> {
        if (n == 0) return done;  // end of stream
        last_read_ = timer_.now();
        if (!check_.Feed(buffer + done, n))
          return KJ_EXCEPTION(DISCONNECTED, kj::str("connection closed: ", check_.error().c_str()));
        if (done + n >= minBytes) return done + n;
        return ReadChecked(buffer, minBytes, maxBytes, done + n);
      });
}

kj::Promise<void> GuardedStream::write(const void* buffer, size_t size) { return inner_->write(buffer, size); }

kj::Promise<void> GuardedStream::write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) {
  return inner_->write(pieces);
}

kj::Promise<void> GuardedStream::whenWriteDisconnected() { return inner_->whenWriteDisconnected(); }

void GuardedStream::shutdownWrite() { inner_->shutdownWrite(); }

void GuardedStream::abortRead() { inner_->abortRead(); }

void GuardedStream::getsockopt(int level, int option, void* value, uint* length) {
  inner_->getsockopt(level, option, value, length);
}

void GuardedStream::setsockopt(int level, int option, const void* value, uint length) {
  inner_->setsockopt(level, option, value, length);
}

void GuardedStream::getsockname(struct sockaddr* addr, uint* length) { inner_->getsockname(addr, length); }

void GuardedStream::getpeername(struct sockaddr* addr, uint* length) { inner_->getpeername(addr, length); }

kj::Maybe<int> GuardedStream::getFd() const { return inner_->getFd(); }

}  // namespace flowps

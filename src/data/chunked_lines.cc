#include "data/chunked_lines.h"

#include <algorithm>
#include <cstring>

namespace flowps::data {

Status LineError(const std::string& path, int64_t line, const std::string& message) {
  return InvalidArgument(path + ":" + std::to_string(line) + ": " + message);
}

int ParseThreads(int requested) {
  if (requested > 0) return requested;
  return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
}

ChunkedLines::ChunkedLines(std::string path, GzFile file, std::string carry, int64_t first_line, Schema schema,
                           ParseFn parse, int threads)
    : path_(std::move(path)), file_(std::move(file)), carry_(std::move(carry)), next_line_(first_line),
      schema_(std::move(schema)), parse_(std::move(parse)),
      slots_(threads <= 1 ? 1 : static_cast<size_t>(threads) + 2) {
  for (int i = 0; threads > 1 && i < threads; ++i) threads_.emplace_back([this] { ParserThread(); });
}

ChunkedLines::~ChunkedLines() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ChunkText::Resize(size_t n) {
  if (n > capacity_ || bytes_ == nullptr) {
    const size_t capacity = std::max(n, 2 * capacity_);
    std::unique_ptr<char[]> bytes(new char[capacity + kChunkPadding]);  // not zero-filled
    if (size_ > 0) std::memcpy(bytes.get(), bytes_.get(), size_);
    bytes_ = std::move(bytes);
    capacity_ = capacity;
  }
  size_ = n;
  std::memset(bytes_.get() + n, 0, kChunkPadding);
}

namespace {

// The '\n' in [p, p + n), 64 bytes at a time (p + n is followed by kChunkPadding readable bytes).
int64_t CountNewlines(const char* p, size_t n) {
  int64_t lines = 0;
  size_t i = 0;
  for (; i + 64 <= n; i += 64) lines += __builtin_popcountll(ByteMask64(p + i, '\n'));
  if (i < n) lines += __builtin_popcountll(ByteMask64(p + i, '\n') & ((uint64_t{1} << (n - i)) - 1));
  return lines;
}

}  // namespace

StatusOr<bool> ChunkedLines::ReadChunk(ChunkText* text) {
  text->Resize(carry_.size());
  if (!carry_.empty()) std::memcpy(text->data(), carry_.data(), carry_.size());
  carry_.clear();
  size_t scanned = 0;  // *text holds no '\n' before this
  while (!eof_) {
    if (text->size() >= kChunkBytes) {
      // Cut after the last '\n'; the rest starts the next chunk.
      const void* nl = ::memrchr(text->data() + scanned, '\n', text->size() - scanned);
      if (nl != nullptr) {
        const size_t cut = static_cast<size_t>(static_cast<const char*>(nl) - text->data()) + 1;
        carry_.assign(text->data() + cut, text->size() - cut);
        text->Resize(cut);
        break;
      }
      scanned = text->size();
      if (text->size() >= LineReader::kMaxLineBytes) {
        line_too_long_ = true;  // the error names the line once the chunks before it are counted
        return LineTooLong();
      }
    }
    const size_t before = text->size();
    text->Resize(before + kChunkBytes);
    FLOWPS_ASSIGN_OR_RETURN(size_t got, ReadGz(file_.get(), path_, text->data() + before, kChunkBytes));
    text->Resize(before + got);
    if (got == 0) eof_ = true;
  }
  return text->size() > 0;
}

Status ChunkedLines::LineTooLong() const {
  return LineError(path_, next_line_, "line longer than " + std::to_string(LineReader::kMaxLineBytes >> 20) + " MiB");
}

StatusOr<int64_t> ChunkedLines::CountContentLines(char comment) {
  int64_t n = 0;
  ChunkText text;
  for (;;) {
    StatusOr<bool> more = ReadChunk(&text);
    if (!more.ok()) return line_too_long_ ? LineTooLong() : more.status();
    if (!*more) return n;
    next_line_ += CountNewlines(text.data(), text.size());
    FLOWPS_RETURN_IF_ERROR(ForEachContentLine(text.view(), 0, comment, [&](std::string_view, int64_t) {
      ++n;
      return Status::OK();
    }));
  }
}

void ChunkedLines::Parse(Slot& slot, int64_t first_line) {
  slot.block.Reset(schema_);
  slot.status = parse_(slot.text.view(), first_line, &slot.block, &slot.lines);
  if (!slot.status.ok()) slot.lines = CountNewlines(slot.text.data(), slot.text.size());
}

void ChunkedLines::ParserThread() {
  for (;;) {
    size_t i;
    {
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      i = queue_.front();
      queue_.pop_front();
    }
    Parse(slots_[i], 0);
    {
      std::lock_guard<std::mutex> lock(mu_);
      slots_[i].state = Slot::kParsed;
    }
    changed_.notify_all();
  }
}

Status ChunkedLines::Next(RecordBlock* out) {
  // Keep every slot busy: read chunks (no lock held) into the free ones.
  while (read_ - taken_ < slots_.size() && read_error_.ok() && !eof_) {
    Slot& slot = slots_[read_ % slots_.size()];
    StatusOr<bool> more = ReadChunk(&slot.text);
    if (!more.ok()) read_error_ = more.status();
    if (!more.ok() || !*more) break;
    ++read_;
    if (threads_.empty()) {
      Parse(slot, next_line_);
      slot.state = Slot::kParsed;
      break;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      slot.state = Slot::kQueued;
      queue_.push_back(static_cast<size_t>((read_ - 1) % slots_.size()));
    }
    changed_.notify_one();
  }
  if (taken_ == read_) {
    out->Reset(schema_);
    return line_too_long_ ? LineTooLong() : read_error_;
  }
  Slot& slot = slots_[taken_ % slots_.size()];
  {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [&] { return slot.state == Slot::kParsed; });
    slot.state = Slot::kFree;
  }
  ++taken_;
  // An error found on a parser thread is found again here, in order, with
  // the chunk's true first line.
  if (!slot.status.ok() && !threads_.empty()) Parse(slot, next_line_);
  next_line_ += slot.lines;
  std::swap(*out, slot.block);
  return slot.status;
}

}  // namespace flowps::data

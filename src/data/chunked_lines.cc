#include "data/chunked_lines.h"

#include <algorithm>

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

StatusOr<bool> ChunkedLines::ReadChunk(std::string* text, int64_t* first_line) {
  text->swap(carry_);
  carry_.clear();
  *first_line = next_line_;
  size_t scanned = 0;  // *text holds no '\n' before this
  while (!eof_) {
    if (text->size() >= kChunkBytes) {
      // Cut after the last '\n'; the rest starts the next chunk.
      const void* nl = ::memrchr(text->data() + scanned, '\n', text->size() - scanned);
      if (nl != nullptr) {
        const size_t cut = static_cast<size_t>(static_cast<const char*>(nl) - text->data()) + 1;
        carry_.assign(*text, cut, std::string::npos);
        text->resize(cut);
        break;
      }
      scanned = text->size();
      if (text->size() >= LineReader::kMaxLineBytes)
        return LineError(path_, next_line_, "line longer than " + std::to_string(LineReader::kMaxLineBytes >> 20) + " MiB");
    }
    const size_t before = text->size();
    text->resize(before + kChunkBytes);
    FLOWPS_ASSIGN_OR_RETURN(size_t got, ReadGz(file_.get(), path_, text->data() + before, kChunkBytes));
    text->resize(before + got);
    if (got == 0) eof_ = true;
  }
  next_line_ += std::count(text->begin(), text->end(), '\n');
  return !text->empty();
}

StatusOr<int64_t> ChunkedLines::CountContentLines(char comment) {
  int64_t n = 0;
  std::string text;
  int64_t first = 0;
  for (;;) {
    FLOWPS_ASSIGN_OR_RETURN(bool more, ReadChunk(&text, &first));
    if (!more) return n;
    FLOWPS_RETURN_IF_ERROR(ForEachContentLine(text, first, comment, [&](std::string_view, int64_t) {
      ++n;
      return Status::OK();
    }));
  }
}

void ChunkedLines::Parse(Slot& slot) {
  slot.block.Reset(schema_);
  slot.status = parse_(slot.text, slot.first_line, &slot.block);
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
    Parse(slots_[i]);
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
    StatusOr<bool> more = ReadChunk(&slot.text, &slot.first_line);
    if (!more.ok()) read_error_ = more.status();
    if (!more.ok() || !*more) break;
    ++read_;
    if (threads_.empty()) {
      Parse(slot);
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
    return read_error_;
  }
  Slot& slot = slots_[taken_ % slots_.size()];
  {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [&] { return slot.state == Slot::kParsed; });
    slot.state = Slot::kFree;
  }
  ++taken_;
  std::swap(*out, slot.block);
  return slot.status;
}

}  // namespace flowps::data

// ChunkedLines: a text file (gzip or plain) cut into chunks of whole lines,
// which parser threads turn into RecordBlocks side by side; the blocks come
// back in file order, so the records are the same, in the same order, as one
// thread would read them.
//
// Memory is bounded: at most threads + 2 chunks of about kChunkBytes (a line
// longer than a chunk makes its chunk longer, up to LineReader::kMaxLineBytes)
// and their blocks exist at once, whatever the file's size. Next() is for one
// thread; the parse function runs on the parser threads, on different chunks
// at once. The destructor stops and joins the parser threads.
#pragma once

#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"
#include "data/example.h"
#include "data/line_reader.h"
#include "data/parse_number.h"

namespace flowps::data {

// The readable bytes after each chunk's text (ChunkText): parsers read whole
// 64-byte blocks (FieldSplitter) and 16 bytes at a field's start.
inline constexpr size_t kChunkPadding = 64;

// "path:line: message" as an InvalidArgument.
Status LineError(const std::string& path, int64_t line, const std::string& message);

// Calls visit(line, number) for each line of `text` (whose first line is
// number `first_line`) that has content: without its '\n' and '\r', cut at
// `comment` (when not '\0'), spaces trimmed, empty lines skipped. Stops at the
// first error visit returns and returns it. *lines (when given): the lines
// walked, empty ones included (all of them when no error stopped the walk).
template <typename Visit>
Status ForEachContentLine(std::string_view text, int64_t first_line, char comment, Visit visit,
                          int64_t* lines = nullptr) {
  const char* p = text.data();
  const char* end = p + text.size();
  int64_t line = first_line;
  for (; p < end; ++line) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    std::string_view s(p, static_cast<size_t>((nl != nullptr ? nl : end) - p));
    p = nl != nullptr ? nl + 1 : end;
    if (comment != '\0') s = s.substr(0, s.find(comment));
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    s = TrimSpaces(s);
    if (s.empty()) continue;
    Status status = visit(s, line);
    if (!status.ok()) return status;
  }
  if (lines != nullptr) *lines = line - first_line;
  return Status::OK();
}

// ForEachContentLine for a ChunkedLines::ParseFn: parse_line(line, number,
// readable_end, out) appends one record to *out, and may read up to
// readable_end (the end of `text` and its padding, kChunkPadding) past
// its line; a line it refuses leaves no partial record behind.
// *lines: as ForEachContentLine's.
template <typename ParseLine>
Status ParseContentLines(std::string_view text, int64_t first_line, char comment, RecordBlock* out,
                         int64_t* lines, ParseLine parse_line) {
  const char* readable_end = text.data() + text.size() + kChunkPadding;
  return ForEachContentLine(
      text, first_line, comment,
      [&](std::string_view line, int64_t number) {
        Status s = parse_line(line, number, readable_end, out);
        if (!s.ok()) out->Truncate(out->size);
        return s;
      },
      lines);
}

// A chunk's bytes, followed by kChunkPadding readable bytes (zeros), so that
// parsers may read whole 64-byte blocks past the last line. Growing keeps
// the bytes and does not zero-fill the new ones. Not thread-safe.
class ChunkText {
 public:
  char* data() { return bytes_.get(); }
  size_t size() const { return size_; }
  std::string_view view() const { return {bytes_.get(), size_}; }
  // Keeps the first min(n, size()) bytes; the others are unspecified.
  void Resize(size_t n);

 private:
  std::unique_ptr<char[]> bytes_;
  size_t size_ = 0, capacity_ = 0;  // capacity_ excludes the padding
};

class ChunkedLines {
 public:
  static constexpr size_t kChunkBytes = size_t{1} << 20;

  // Appends the records of the lines of `text` to *out (reset beforehand),
  // the first line being number `first_line`, and sets *lines to the lines
  // of `text` (when it returns OK). On a malformed line: the
  // records before it in *out, and the error ("path:line: ..."). The
  // kChunkPadding bytes after `text` are readable. Deterministic: the
  // same text gives the same records and error (an error is found on a
  // parser thread, then the chunk is parsed again in order with its true
  // first line, which only then is known).
  using ParseFn = std::function<Status(std::string_view text, int64_t first_line, RecordBlock* out, int64_t* lines)>;

  // Reads `file` (at `path`) from where it stands; `carry` holds bytes already
  // read from there, and `first_line` is the number of the line they start.
  // threads <= 1 parses on the caller's thread, in Next().
  ChunkedLines(std::string path, GzFile file, std::string carry, int64_t first_line, Schema schema, ParseFn parse,
               int threads);
  ~ChunkedLines();
  ChunkedLines(const ChunkedLines&) = delete;
  ChunkedLines& operator=(const ChunkedLines&) = delete;

  // RecordReader::NextBlock's contract: the next chunk's records (out->size
  // is 0 at the end of the file), or those before the first malformed line
  // and its error.
  Status Next(RecordBlock* out);
  // The lines with content (ForEachContentLine's) from here to the end, read
  // but not parsed. REQUIRES: Next() not called.
  StatusOr<int64_t> CountContentLines(char comment);

 private:
  struct Slot {
    enum State { kFree, kQueued, kParsed };
    State state = kFree;  // guarded by mu_
    ChunkText text;       // the chunk; owned by the reading thread while kFree, by a parser while kQueued
    int64_t lines = 0;    // the lines of text, counted by its parser
    RecordBlock block;
    Status status;
  };

  // Reads the next chunk of whole lines into *text; false at the end of the file.
  StatusOr<bool> ReadChunk(ChunkText* text);
  // Parses the slot's chunk and counts its lines; its first line is
  // `first_line` (0 where not yet known: then an error is found again in order).
  void Parse(Slot& slot, int64_t first_line);
  // "path:line: line longer than ...", the line being next_line_.
  Status LineTooLong() const;
  void ParserThread();

  const std::string path_;
  GzFile file_;
  std::string carry_;       // bytes after the last chunk's last '\n'
  int64_t next_line_;       // the number of the first line of the next chunk handed out
  bool eof_ = false;
  Status read_error_;
  bool line_too_long_ = false;  // read_error_ is LineTooLong(), named when the lines before it are counted
  const Schema schema_;
  const ParseFn parse_;

  std::vector<Slot> slots_;       // a ring: chunk k is in slots_[k % size]
  uint64_t read_ = 0, taken_ = 0; // chunks read, chunks handed out
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<size_t> queue_;      // guarded by mu_: slots to parse, in file order
  bool stop_ = false;             // guarded by mu_
  std::vector<std::thread> threads_;
};

// The parse threads to use for `requested` (0: one per core, at most 8).
int ParseThreads(int requested);

}  // namespace flowps::data

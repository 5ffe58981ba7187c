// LineReader: a file read line by line through zlib (gzip-compressed or
// plain: gzread passes plain files through), with a bounded buffer.
//
// Memory is bounded by the longest line (at most kMaxLineBytes), whatever
// the file's size. Lines are numbered from 1. Not thread-safe.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace flowps::data {

// A gzFile closed on destruction.
using GzFile = std::unique_ptr<gzFile_s, int (*)(gzFile)>;
// Opens `path` for reading (gzip or plain); NotFound naming it. A large
// gzip file is read from its inflated copy (data/inflated_copy.h).
StatusOr<GzFile> OpenGz(const std::string& path);
// Reads up to `n` bytes; returns the count (0 at the end). The error names the file.
StatusOr<size_t> ReadGz(gzFile f, const std::string& path, void* out, size_t n);

class LineReader {
 public:
  static constexpr size_t kMaxLineBytes = size_t{64} << 20;

  static StatusOr<std::unique_ptr<LineReader>> Open(const std::string& path);

  // The next line without its '\n' (and without a trailing '\r'); false at
  // the end of the file. The view is valid until the next call.
  StatusOr<bool> Next(std::string_view* line);
  // The next line with content: `comment` (when not '\0') and what follows
  // it are cut, surrounding spaces trimmed, and lines left empty skipped.
  StatusOr<bool> NextContent(std::string_view* line, char comment = '\0');
  int64_t line_number() const { return line_; }  // of the last line returned
  const std::string& path() const { return path_; }
  // "path:line: message" as an InvalidArgument.
  Status Error(const std::string& message) const;
  // Hands over the file and, in *unread, the bytes read from it but not yet
  // returned as lines (the next line starts them). Next() then ends.
  GzFile Release(std::string* unread);

 private:
  LineReader(std::string path, GzFile f) : path_(std::move(path)), file_(std::move(f)), buffer_(size_t{1} << 20) {}
  Status Fill();  // moves the unread bytes to the front and reads more

  std::string path_;
  GzFile file_;
  std::vector<char> buffer_;
  size_t begin_ = 0, end_ = 0;  // unread bytes
  bool eof_ = false;
  int64_t line_ = 0;
};

}  // namespace flowps::data

#include "data/line_reader.h"

#include <cstring>

#include "data/inflated_copy.h"
#include "data/parse_number.h"

namespace flowps::data {

StatusOr<GzFile> OpenGz(const std::string& path) {
  const std::string read_from = InflatedCopy(path, DefaultInflateCacheDir(), kInflateCopyMinBytes);
  GzFile f(gzopen(read_from.c_str(), "rb"), gzclose);
  if (!f) return NotFound(path + ": cannot open file");
  gzbuffer(f.get(), 1 << 18);
  return f;
}

StatusOr<size_t> ReadGz(gzFile f, const std::string& path, void* out, size_t n) {
  size_t done = 0;
  while (done < n) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, size_t{1} << 30));
    int got = gzread(f, static_cast<char*>(out) + done, chunk);
    if (got < 0) {
      int err = 0;
      const char* msg = gzerror(f, &err);
      return InvalidArgument(path + ": cannot read: " + (msg ? msg : "unknown zlib error"));
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

StatusOr<std::unique_ptr<LineReader>> LineReader::Open(const std::string& path) {
  FLOWPS_ASSIGN_OR_RETURN(GzFile f, OpenGz(path));
  return std::unique_ptr<LineReader>(new LineReader(path, std::move(f)));
}

Status LineReader::Error(const std::string& message) const {
  return InvalidArgument(path_ + ":" + std::to_string(line_) + ": " + message);
}

GzFile LineReader::Release(std::string* unread) {
  unread->assign(buffer_.data() + begin_, end_ - begin_);
  begin_ = end_ = 0;
  eof_ = true;
  return std::move(file_);
}

Status LineReader::Fill() {
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_.size()) {
    if (buffer_.size() >= kMaxLineBytes) {
      ++line_;
      return Error("line longer than " + std::to_string(kMaxLineBytes >> 20) + " MiB");
    }
    buffer_.resize(buffer_.size() * 2);
  }
  FLOWPS_ASSIGN_OR_RETURN(size_t got, ReadGz(file_.get(), path_, buffer_.data() + end_, buffer_.size() - end_));
  if (got == 0) eof_ = true;
  end_ += got;
  return Status::OK();
}

StatusOr<bool> LineReader::Next(std::string_view* line) {
  size_t scanned = begin_;
  for (;;) {
    const char* nl = static_cast<const char*>(std::memchr(buffer_.data() + scanned, '\n', end_ - scanned));
    size_t stop;
    if (nl != nullptr) {
      stop = static_cast<size_t>(nl - buffer_.data());
    } else if (eof_) {
      if (begin_ == end_) return false;
      stop = end_;  // the last line has no '\n'
    } else {
      size_t offset = scanned - begin_;
      FLOWPS_RETURN_IF_ERROR(Fill());
      scanned = begin_ + offset;
      continue;
    }
    size_t len = stop - begin_;
    if (len > 0 && buffer_[begin_ + len - 1] == '\r') --len;
    *line = std::string_view(buffer_.data() + begin_, len);
    begin_ = stop < end_ ? stop + 1 : end_;
    ++line_;
    return true;
  }
}

}  // namespace flowps::data

namespace flowps::data {

StatusOr<bool> LineReader::NextContent(std::string_view* line, char comment) {
  for (;;) {
    FLOWPS_ASSIGN_OR_RETURN(bool more, Next(line));
    if (!more) return false;
    if (comment != '\0') *line = line->substr(0, line->find(comment));
    *line = TrimSpaces(*line);
    if (!line->empty()) return true;
  }
}

}  // namespace flowps::data

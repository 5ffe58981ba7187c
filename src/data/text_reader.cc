// The text reader (record_reader.h): byte ids of a UTF-8 file, streamed in
// blocks and checked as they arrive.
#include <cstdio>
#include <cstring>
#include <vector>

#include "data/line_reader.h"
#include "data/record_reader.h"

namespace flowps::data {
namespace {

class TextReader final : public RecordAtATimeReader {
 public:
  TextReader(std::string path, GzFile f, int64_t length)
      : path_(std::move(path)), file_(std::move(f)), length_(static_cast<size_t>(length)),
        tokens_(length_), targets_(length_) {
    schema_ = {{"tokens", DType::kInt32, {length}, ""}, {"targets", DType::kInt32, {length}, ""}};
  }

  const Schema& schema() const override { return schema_; }

  StatusOr<bool> ReadRecord(Example* out) override {
    // bytes_[begin_] is the sequence's first byte; it needs length_ + 1 bytes.
    if (end_ - begin_ < length_ + 1) {
      FLOWPS_ASSIGN_OR_RETURN(bool more, Fill());
      if (!more) return false;
    }
    const uint8_t* b = bytes_.data() + begin_;
    for (size_t i = 0; i < length_; ++i) {
      tokens_[i] = b[i];
      targets_[i] = b[i + 1];
    }
    begin_ += length_;
    out->columns.resize(2);
    out->Set(0, tokens_.data(), length_);
    out->Set(1, targets_.data(), length_);
    return true;
  }

 private:
  // Reads blocks until length_ + 1 bytes are buffered; false at the end.
  StatusOr<bool> Fill() {
    std::memmove(bytes_.data(), bytes_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    const size_t block = std::max<size_t>(size_t{1} << 16, 2 * (length_ + 1));
    while (end_ < length_ + 1) {
      if (bytes_.size() < end_ + block) bytes_.resize(end_ + block);
      FLOWPS_ASSIGN_OR_RETURN(size_t got, ReadGz(file_.get(), path_, bytes_.data() + end_, block));
      if (got == 0) {
        if (pending_ > 0) return InvalidArgument(Where() + "the file ends inside a UTF-8 character");
        return false;
      }
      FLOWPS_RETURN_IF_ERROR(Check(bytes_.data() + end_, got));
      end_ += got;
    }
    return true;
  }

  // Checks n new bytes as the continuation of a UTF-8 stream, counting lines.
  Status Check(const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      const uint8_t b = p[i];
      if (b < 0x80 && pending_ == 0) {
        if (b == '\n') ++line_;
        continue;
      }
      if (pending_ > 0) {
        if ((b & 0xC0) != 0x80) return Bad(b, "a continuation byte was expected");
        --pending_;
      } else if (b >= 0xC2 && b <= 0xDF) {
        pending_ = 1;
      } else if (b >= 0xE0 && b <= 0xEF) {
        pending_ = 2;
      } else if (b >= 0xF0 && b <= 0xF4) {
        pending_ = 3;
      } else {
        return Bad(b, "it cannot start a character");
      }
    }
    return Status::OK();
  }

  std::string Where() const { return path_ + ":" + std::to_string(line_) + ": "; }
  Status Bad(uint8_t b, const char* why) const {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", b);
    return InvalidArgument(Where() + "invalid UTF-8: byte " + hex + ": " + why);
  }

  std::string path_;
  GzFile file_;
  size_t length_;
  std::vector<uint8_t> bytes_;
  size_t begin_ = 0, end_ = 0;  // buffered, checked bytes
  int64_t line_ = 1;            // of the last byte checked
  int pending_ = 0;             // continuation bytes still due
  std::vector<int32_t> tokens_, targets_;
  Schema schema_;
};

}  // namespace

StatusOr<std::unique_ptr<RecordReader>> OpenTextReader(const std::string& path, int64_t sequence_length) {
  if (sequence_length <= 0) return InvalidArgument("the sequence length must be positive");
  FLOWPS_ASSIGN_OR_RETURN(GzFile f, OpenGz(path));
  return std::unique_ptr<RecordReader>(new TextReader(path, std::move(f), sequence_length));
}

}  // namespace flowps::data

// The text reader (record_reader.h): byte ids of a UTF-8 file, streamed.
#include <cstdio>
#include <vector>

#include "data/line_reader.h"
#include "data/record_reader.h"

namespace flowps::data {
namespace {

class TextReader final : public RecordReader {
 public:
  TextReader(std::string path, GzFile f, int64_t length)
      : path_(std::move(path)), file_(std::move(f)), length_(static_cast<size_t>(length)), chunk_(1 << 16),
        tokens_(length_), targets_(length_) {
    schema_ = {{"tokens", DType::kInt32, {length}, ""}, {"targets", DType::kInt32, {length}, ""}};
  }

  const Schema& schema() const override { return schema_; }

  StatusOr<bool> Next(Example* out) override {
    // window_ holds the previous sequence's last byte (its first target) first.
    while (window_.size() < length_ + 1) {
      int byte = 0;
      FLOWPS_ASSIGN_OR_RETURN(bool more, NextByte(&byte));
      if (!more) {
        if (pending_ > 0) return InvalidArgument(path_ + ":" + std::to_string(line_) + ": the file ends inside a UTF-8 character");
        return false;
      }
      window_.push_back(static_cast<uint8_t>(byte));
    }
    for (size_t i = 0; i < length_; ++i) {
      tokens_[i] = window_[i];
      targets_[i] = window_[i + 1];
    }
    window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(length_));
    out->columns.resize(2);
    out->Set(0, tokens_.data(), length_);
    out->Set(1, targets_.data(), length_);
    return true;
  }

 private:
  // The next byte, checked as part of a UTF-8 stream.
  StatusOr<bool> NextByte(int* byte) {
    if (pos_ == end_) {
      FLOWPS_ASSIGN_OR_RETURN(size_t got, ReadGz(file_.get(), path_, chunk_.data(), chunk_.size()));
      if (got == 0) return false;
      pos_ = 0;
      end_ = got;
    }
    const uint8_t b = chunk_[pos_++];
    *byte = b;
    if (b == '\n') ++line_;
    if (pending_ > 0) {
      if ((b & 0xC0) != 0x80) return Bad(b, "a continuation byte was expected");
      --pending_;
      return true;
    }
    if (b < 0x80) return true;
    if (b >= 0xC2 && b <= 0xDF) pending_ = 1;
    else if (b >= 0xE0 && b <= 0xEF) pending_ = 2;
    else if (b >= 0xF0 && b <= 0xF4) pending_ = 3;
    else return Bad(b, "it cannot start a character");
    return true;
  }

  Status Bad(uint8_t b, const char* why) const {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", b);
    return InvalidArgument(path_ + ":" + std::to_string(line_) + ": invalid UTF-8: byte " + hex + ": " + why);
  }

  std::string path_;
  GzFile file_;
  size_t length_;
  std::vector<uint8_t> chunk_;
  size_t pos_ = 0, end_ = 0;
  int64_t line_ = 1;
  int pending_ = 0;  // continuation bytes still due
  std::vector<uint8_t> window_;
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

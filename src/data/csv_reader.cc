// The csv reader (record_reader.h).
#include <vector>

#include "data/line_reader.h"
#include "data/parse_number.h"
#include "data/record_reader.h"

namespace flowps::data {
namespace {

class CsvReader final : public RecordReader {
 public:
  CsvReader(std::unique_ptr<LineReader> lines, std::vector<std::string> header, size_t label_index)
      : lines_(std::move(lines)), header_(std::move(header)), label_index_(label_index),
        features_(header_.size() - 1) {
    schema_ = {{"features", DType::kFloat32, {static_cast<int64_t>(header_.size() - 1)}, ""},
               {"label", DType::kInt32, {}, ""}};
  }

  const Schema& schema() const override { return schema_; }

  StatusOr<bool> Next(Example* out) override {
    std::string_view line;
    FLOWPS_ASSIGN_OR_RETURN(bool more, lines_->NextContent(&line));
    if (!more) return false;
    // One pass: each field is a number followed by ',' (or the end).
    const char* p = line.data();
    const char* end = p + line.size();
    int32_t label = 0;
    size_t f = 0;
    for (size_t field = 0;; ++field) {
      if (field >= header_.size())
        return lines_->Error("more than the header's " + std::to_string(header_.size()) + " fields");
      const char* next = field == label_index_ ? ParseNumberAt(p, end, &label) : ParseNumberAt(p, end, &features_[f]);
      if (next == nullptr || (next < end && *next != ',')) return BadField(line, p, field);
      if (field != label_index_) ++f;
      if (next == end) {
        if (field + 1 != header_.size())
          return lines_->Error(std::to_string(field + 1) + " fields, but the header has " +
                               std::to_string(header_.size()));
        break;
      }
      p = next + 1;
    }
    out->columns.resize(2);
    out->Set(0, features_.data(), features_.size());
    out->Set(1, &label, 1);
    return true;
  }

 private:
  Status BadField(std::string_view line, const char* at, size_t field) const {
    std::string_view rest = line.substr(static_cast<size_t>(at - line.data()));
    std::string value(TrimSpaces(rest.substr(0, rest.find(','))));
    if (field == label_index_)
      return lines_->Error("label column '" + header_[field] + "' holds '" + value + "', not an integer");
    return lines_->Error("column '" + header_[field] + "' holds '" + value + "', not a number");
  }

  std::unique_ptr<LineReader> lines_;
  std::vector<std::string> header_;
  size_t label_index_;
  std::vector<float> features_;
  Schema schema_;
};

}  // namespace

StatusOr<std::unique_ptr<RecordReader>> OpenCsvReader(const std::string& path, const std::string& label) {
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<LineReader> lines, LineReader::Open(path));
  std::string_view line;
  FLOWPS_ASSIGN_OR_RETURN(bool any, lines->Next(&line));
  if (!any) return InvalidArgument(path + ":1: empty file: a csv file starts with a header row");
  std::vector<std::string> header;
  size_t label_index = std::string::npos;
  for (size_t start = 0;;) {
    size_t comma = line.find(',', start);
    std::string name(TrimSpaces(line.substr(start, comma == std::string_view::npos ? line.npos : comma - start)));
    if (name.empty()) return lines->Error("header column " + std::to_string(header.size() + 1) + " has no name");
    if (name == label) {
      if (label_index != std::string::npos) return lines->Error("the header names the label column '" + label + "' twice");
      label_index = header.size();
    }
    header.push_back(std::move(name));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (label_index == std::string::npos)
    return lines->Error("the header has no label column '" + label + "' (data.label)");
  if (header.size() < 2) return lines->Error("the header has no feature column beside the label");
  return std::unique_ptr<RecordReader>(new CsvReader(std::move(lines), std::move(header), label_index));
}

}  // namespace flowps::data

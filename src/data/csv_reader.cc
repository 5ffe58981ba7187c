// The csv reader (record_reader.h): chunks of lines parsed on several
// threads (ChunkedLines), each row straight into its block's columns.
#include <algorithm>
#include <vector>

#include "data/chunked_lines.h"
#include "data/parse_number.h"
#include "data/record_reader.h"
#include "data/simd_fields.h"

namespace flowps::data {
namespace {

// The header of a csv file and how to parse its rows. Immutable: the parser
// threads share it.
class CsvRows {
 public:
  CsvRows(std::string path, std::vector<std::string> header, size_t label_index)
      : path_(std::move(path)), header_(std::move(header)), label_index_(label_index) {}

  // ChunkedLines::ParseFn. Columns: features float32 [fields - 1], label int32 [].
  Status Parse(std::string_view text, int64_t first_line, RecordBlock* out, int64_t* lines) const {
    return ParseContentLines(text, first_line, '\0', out, lines,
                             [this](std::string_view line, int64_t number, const char* readable_end,
                                    RecordBlock* block) { return ParseRow(line, number, readable_end, block); });
  }

  size_t fields() const { return header_.size(); }

 private:
  // Bytes up to readable_end (at least 64 past the line's end: ChunkedLines'
  // padding) may be read past the line's end.
  Status ParseRow(std::string_view line, int64_t number, const char* readable_end, RecordBlock* out) const {
    float* features = reinterpret_cast<float*>(out->Grow(0, (header_.size() - 1) * sizeof(float)));
    int32_t label = 0;
    if (readable_end - (line.data() + line.size()) >= 64 && ParseRowFast(line, features, &label)) {
      std::memcpy(out->Grow(1, sizeof label), &label, sizeof label);
      out->EndRecord();
      return Status::OK();
    }
    out->Truncate(out->size);
    return ParseRowChecked(line, number, readable_end, out);
  }

  // The rows as they come: the ',' of the whole line found first, 64 bytes
  // at a time, then the fields: runs of lone digits 16 at a time and the
  // others four at a time (simd_fields.h) where the build has AVX2, each
  // field alone otherwise and for the few those leave (ParseFieldExact).
  // False for any row it does not take whole (a field count other than the
  // header's, a bad field); ParseRowChecked then reads the row again and
  // names what is wrong.
  bool ParseRowFast(std::string_view line, float* features, int32_t* label) const {
    const size_t fields = header_.size();
    const char* const line_end = line.data() + line.size();
    FieldSplitter<','> split(line.data(), line_end);
    const char* begin = line.data();
    for (size_t field = 0;;) {
      if constexpr (kFieldBatches) {
        // Feature fields up to the label column or the row's end.
        const size_t stop = field <= label_index_ ? label_index_ : fields;
        if (field + 4 <= stop) {
          size_t left = stop - field;
          if (!ParseFloatBatches(split, line_end, &left, &begin, &features)) return false;
          field = stop - left;
          continue;
        }
      }
      const char* end = split.Next();
      if (end == nullptr) return field == fields;
      if (field == label_index_) {
        if (ParseNumberAt(begin, end, label) != end) return false;
      } else if (field >= fields || !ParseFieldExact(begin, end, features++)) {
        return false;
      }
      begin = end + 1;
      ++field;
    }
  }

  // One pass: each field is a number followed by ',' (or the end). Bytes up
  // to readable_end (the chunk's end) may be read past the line's end.
  Status ParseRowChecked(std::string_view line, int64_t number, const char* readable_end, RecordBlock* out) const {
    float* features = reinterpret_cast<float*>(out->Grow(0, (header_.size() - 1) * sizeof(float)));
    int32_t label = 0;
    const char* p = line.data();
    const char* end = p + line.size();
    for (size_t field = 0;; ++field) {
      if (field >= header_.size())
        return LineError(path_, number, "more than the header's " + std::to_string(header_.size()) + " fields");
      const char* next = field == label_index_ ? ParseNumberAt(p, end, &label) : ParseFloatField<','>(p, end, readable_end, features++);
      if (next == nullptr || (next < end && *next != ',')) return BadField(line, number, p, field);
      if (next == end) {
        if (field + 1 != header_.size())
          return LineError(path_, number,
                           std::to_string(field + 1) + " fields, but the header has " + std::to_string(header_.size()));
        break;
      }
      p = next + 1;
    }
    std::memcpy(out->Grow(1, sizeof label), &label, sizeof label);
    out->EndRecord();
    return Status::OK();
  }

  Status BadField(std::string_view line, int64_t number, const char* at, size_t field) const {
    std::string_view rest = line.substr(static_cast<size_t>(at - line.data()));
    std::string value(TrimSpaces(rest.substr(0, rest.find(','))));
    if (field == label_index_)
      return LineError(path_, number, "label column '" + header_[field] + "' holds '" + value + "', not an integer");
    return LineError(path_, number, "column '" + header_[field] + "' holds '" + value + "', not a number");
  }

  std::string path_;
  std::vector<std::string> header_;
  size_t label_index_;
};

class CsvReader final : public RecordReader {
 public:
  CsvReader(std::unique_ptr<LineReader> header_lines, std::vector<std::string> header, size_t label_index,
            int threads)
      : rows_(header_lines->path(), std::move(header), label_index),
        schema_({{"features", DType::kFloat32, {static_cast<int64_t>(rows_.fields() - 1)}, ""},
                 {"label", DType::kInt32, {}, ""}}) {
    std::string carry;
    GzFile file = header_lines->Release(&carry);
    lines_ = std::make_unique<ChunkedLines>(
        header_lines->path(), std::move(file), std::move(carry), header_lines->line_number() + 1, schema_,
        [this](std::string_view text, int64_t first, RecordBlock* out, int64_t* lines) {
          return rows_.Parse(text, first, out, lines);
        },
        threads);
  }

  const Schema& schema() const override { return schema_; }
  Status NextBlock(RecordBlock* out) override { return lines_->Next(out); }
  StatusOr<int64_t> CountRecords() override { return lines_->CountContentLines('\0'); }

 private:
  const CsvRows rows_;
  const Schema schema_;
  std::unique_ptr<ChunkedLines> lines_;
};

}  // namespace

StatusOr<std::unique_ptr<RecordReader>> OpenCsvReader(const std::string& path, const std::string& label,
                                                      int threads) {
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
  return std::unique_ptr<RecordReader>(
      new CsvReader(std::move(lines), std::move(header), label_index, ParseThreads(threads)));
}

}  // namespace flowps::data

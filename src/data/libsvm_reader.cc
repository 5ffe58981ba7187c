// The libsvm reader (record_reader.h): chunks of lines parsed on several
// threads (ChunkedLines), each line straight into its block's columns.
#include <algorithm>
#include <vector>

#include "data/chunked_lines.h"
#include "data/parse_number.h"
#include "data/record_reader.h"

namespace flowps::data {
namespace {

// How to parse a libsvm file's lines. Immutable: the parser threads share it.
class LibsvmLines {
 public:
  LibsvmLines(std::string path, int64_t dense_dim) : path_(std::move(path)), dense_dim_(dense_dim) {}

  // ChunkedLines::ParseFn. Columns: dense: features, label; ragged: label, ids, values.
  Status Parse(std::string_view text, int64_t first_line, RecordBlock* out) const {
    return ParseContentLines(text, first_line, '#', out,
                             [this](std::string_view line, int64_t number, const char* readable_end,
                                    RecordBlock* block) { return ParseLine(line, number, readable_end, block); });
  }

 private:
  // Bytes up to readable_end (the chunk's end) may be read past the line's end.
  Status ParseLine(std::string_view line, int64_t number, const char* readable_end, RecordBlock* out) const {
    const char* p = line.data();
    const char* end = p + line.size();
    int32_t label = 0;
    const char* next = ParseNumberAt(p, end, &label);
    if (next == nullptr || (next < end && next[-1] != ' ' && next[-1] != '\t'))
      return LineError(path_, number, "label '" + std::string(Token(line, p)) + "' is not an integer");
    float* dense = nullptr;
    if (dense_dim_ > 0) {
      dense = reinterpret_cast<float*>(out->Grow(0, static_cast<size_t>(dense_dim_) * sizeof(float)));
      std::fill(dense, dense + dense_dim_, 0.f);
    }
    // Ragged pairs gather here and go to the block a batch at a time.
    constexpr int kBatch = 256;
    int64_t ids[kBatch];
    float values[kBatch];
    int pending = 0;
    auto flush = [&] {
      std::memcpy(out->Grow(1, pending * sizeof ids[0]), ids, pending * sizeof ids[0]);
      std::memcpy(out->Grow(2, pending * sizeof values[0]), values, pending * sizeof values[0]);
      pending = 0;
    };
    for (p = next; p < end;) {
      // The common case in one pass: id ':' value, then spaces or the end.
      int64_t id = 0;
      float value = 0;
      const char* colon = ParseId(p, end, &id);
      const bool pair = colon != nullptr && colon + 1 < end && *colon == ':' && colon[1] != ' ' && colon[1] != '\t';
      const char* after = pair ? ParseFloatField<' '>(colon + 1, end, readable_end, &value) : nullptr;
      if (after == nullptr || (after < end && after[-1] != ' ' && after[-1] != '\t')) return BadPair(line, number, p);
      if (dense != nullptr) {
        if (id < 0 || id >= dense_dim_)
          return LineError(path_, number, "id " + std::to_string(id) + " is outside [0, " + std::to_string(dense_dim_) +
                                              ") (data.dense_dim)");
        dense[id] = value;
      } else {
        ids[pending] = id;
        values[pending] = value;
        if (++pending == kBatch) flush();
      }
      p = after;
    }
    if (pending > 0) flush();
    std::memcpy(out->Grow(dense != nullptr ? 1 : 0, sizeof label), &label, sizeof label);
    out->EndRecord();
    return Status::OK();
  }

  // The int64 id at p (an optional '+', then what std::from_chars reads):
  // the position after it, or nullptr. Up to 18 plain digits without
  // from_chars (the same value: no overflow is possible).
  static const char* ParseId(const char* p, const char* end, int64_t* id) {
    uint64_t m = 0;
    int digits = 0;
    const char* stop = ScanDigits(p, end, &m, &digits);
    if (digits > 0 && digits <= 18) {
      *id = static_cast<int64_t>(m);
      return stop;
    }
    const char* q = *p == '+' ? p + 1 : p;
    auto [colon, ec] = std::from_chars(q, end, *id);
    return ec == std::errc() ? colon : nullptr;
  }

  // The error for the malformed id:value pair at p.
  Status BadPair(std::string_view line, int64_t number, const char* p) const {
    const std::string_view pair = Token(line, p);
    const size_t colon = pair.find(':');
    if (colon == std::string_view::npos) return LineError(path_, number, Quoted(pair) + " is not id:value");
    int64_t id = 0;
    if (ParseNumberAt(pair.data(), pair.data() + colon, &id) != pair.data() + colon)
      return LineError(path_, number, "id '" + std::string(pair.substr(0, colon)) + "' is not an int64");
    return LineError(path_, number, "value '" + std::string(pair.substr(colon + 1)) + "' of id " + std::to_string(id) +
                                        " is not a number");
  }

  static std::string Quoted(std::string_view s) {
    std::string q(1, '\'');
    q.append(s).push_back('\'');
    return q;
  }

  // The space-separated token of `line` that starts at or after p.
  static std::string_view Token(std::string_view line, const char* p) {
    const char* end = line.data() + line.size();
    p = SkipSpaces(p, end);
    const char* stop = p;
    while (stop < end && *stop != ' ' && *stop != '\t') ++stop;
    return std::string_view(p, static_cast<size_t>(stop - p));
  }

  std::string path_;
  int64_t dense_dim_;
};

Schema LibsvmSchema(int64_t dense_dim) {
  if (dense_dim > 0) return {{"features", DType::kFloat32, {dense_dim}, ""}, {"label", DType::kInt32, {}, ""}};
  return {{"label", DType::kInt32, {}, ""},
          {"ids", DType::kInt64, {}, "offsets"},
          {"values", DType::kFloat32, {}, "offsets"}};
}

class LibsvmReader final : public RecordReader {
 public:
  LibsvmReader(const std::string& path, GzFile file, int64_t dense_dim, int threads)
      : lines_(path, dense_dim), schema_(LibsvmSchema(dense_dim)),
        chunks_(path, std::move(file), "", 1, schema_,
                [this](std::string_view text, int64_t first, RecordBlock* out) {
                  return lines_.Parse(text, first, out);
                },
                threads) {}

  const Schema& schema() const override { return schema_; }
  Status NextBlock(RecordBlock* out) override { return chunks_.Next(out); }
  StatusOr<int64_t> CountRecords() override { return chunks_.CountContentLines('#'); }

 private:
  const LibsvmLines lines_;
  const Schema schema_;
  ChunkedLines chunks_;
};

}  // namespace

StatusOr<std::unique_ptr<RecordReader>> OpenLibsvmReader(const std::string& path, int64_t dense_dim, int threads) {
  FLOWPS_ASSIGN_OR_RETURN(GzFile file, OpenGz(path));
  return std::unique_ptr<RecordReader>(new LibsvmReader(path, std::move(file), dense_dim, ParseThreads(threads)));
}

}  // namespace flowps::data

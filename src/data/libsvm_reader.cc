// The libsvm reader (record_reader.h): chunks of lines parsed on several
// threads (ChunkedLines), each line straight into its block's columns.
#include <algorithm>
#include <vector>

#include "data/chunked_lines.h"
#include "data/parse_number.h"
#include "data/record_reader.h"
#include "data/simd_fields.h"

namespace flowps::data {
namespace {

// How to parse a libsvm file's lines. Immutable: the parser threads share it.
class LibsvmLines {
 public:
  LibsvmLines(std::string path, int64_t dense_dim) : path_(std::move(path)), dense_dim_(dense_dim) {}

  // ChunkedLines::ParseFn. Columns: dense: features, label; ragged: label, ids, values.
  Status Parse(std::string_view text, int64_t first_line, RecordBlock* out, int64_t* lines) const {
    return ParseContentLines(text, first_line, '#', out, lines,
                             [this](std::string_view line, int64_t number, const char* readable_end,
                                    RecordBlock* block) { return ParseLine(line, number, readable_end, block); });
  }

 private:
  // Bytes up to readable_end (at least 64 past the line's end: ChunkedLines'
  // padding) may be read past the line's end.
  Status ParseLine(std::string_view line, int64_t number, const char* readable_end, RecordBlock* out) const {
    if (readable_end - (line.data() + line.size()) >= 64 && ParseLineFast(line, out)) return Status::OK();
    out->Truncate(out->size);
    return ParseLineChecked(line, number, readable_end, out);
  }

  // The lines as they come ("label id:value id:value", one space apart): the
  // spaces and ':' of the whole line found first, 64 bytes at a time, then
  // each field. False for any line it does not take whole; ParseLineChecked
  // then reads it again and names what is wrong.
  bool ParseLineFast(std::string_view line, RecordBlock* out) const {
    const char* b = line.data();
    const char* end = b + line.size();
    FieldSplitter<' ', ':'> split(b, end);
    const char* e = split.Next();
    int32_t label = 0;
    if (e == end || *e != ' ' || ParseNumberAt(b, e, &label) != e) return false;
    float* dense = nullptr;
    if (dense_dim_ > 0) {
      dense = reinterpret_cast<float*>(out->Grow(0, static_cast<size_t>(dense_dim_) * sizeof(float)));
      std::fill(dense, dense + dense_dim_, 0.f);
    }
    PairBuffer pairs(out);
    auto add = [&](int64_t id, float value) {
      if (dense == nullptr) {
        pairs.Add(id, value);
        return true;
      }
      if (id < 0 || id >= dense_dim_) return false;
      dense[id] = value;
      return true;
    };
    for (b = e + 1;;) {
      const char* colon = split.Next();
      if (colon == end || *colon != ':') return false;
      const char* after = split.Next();
      if (after != end && *after != ' ') return false;
      if constexpr (kFieldBatches) {
        // Two pairs at once (simd_fields.h): ids in fields 0 and 2, values in 1 and 3.
        if (after != end) {
          const char* colon2 = split.Next();
          if (colon2 == end || *colon2 != ':') return false;
          const char* after2 = split.Next();
          if (after2 != end && *after2 != ' ') return false;
          const char* begins[4] = {b, colon + 1, after + 1, colon2 + 1};
          const char* ends[4] = {colon, after, colon2, after2};
          Decimals4 d;
          ParseDecimals4(begins, ends, &d);
          if (d.exact && d.integers02) {
            if (!add(static_cast<int64_t>(d.m[0]), d.values[1]) || !add(static_cast<int64_t>(d.m[2]), d.values[3]))
              return false;
          } else {
            int64_t id0, id1;
            float v0, v1;
            if (!ParseIdField(begins[0], ends[0], &id0) || !ParseFieldExact(begins[1], ends[1], &v0) ||
                !ParseIdField(begins[2], ends[2], &id1) || !ParseFieldExact(begins[3], ends[3], &v1) ||
                !add(id0, v0) || !add(id1, v1))
              return false;
          }
          if (after2 == end) break;
          b = after2 + 1;
          continue;
        }
      }
      int64_t id;
      float value;
      if (!ParseIdField(b, colon, &id) || !ParseFieldExact(colon + 1, after, &value) || !add(id, value)) return false;
      if (after == end) break;
      b = after + 1;
    }
    pairs.Flush();
    std::memcpy(out->Grow(dense != nullptr ? 1 : 0, sizeof label), &label, sizeof label);
    out->EndRecord();
    return true;
  }

  // The id field [p, e) as ParseId reads it when it reads all of it: plain
  // digits (up to 15) by PlainDecimal16, the rest by ParseId.
  static bool ParseIdField(const char* p, const char* e, int64_t* id) {
    PlainNumber n;
    if (e - p < 16 && PlainDecimal16(p, static_cast<int>(e - p), &n) && !n.dot && !n.negative) {
      *id = static_cast<int64_t>(n.m);
      return true;
    }
    return e > p && ParseId(p, e, id) == e;
  }

  // id:value pairs gather here and go to the block's ids (column 1) and
  // values (column 2) a batch at a time.
  class PairBuffer {
   public:
    explicit PairBuffer(RecordBlock* out) : out_(out) {}
    void Add(int64_t id, float value) {
      ids_[pending_] = id;
      values_[pending_] = value;
      if (++pending_ == kBatch) Flush();
    }
    void Flush() {
      if (pending_ == 0) return;
      std::memcpy(out_->Grow(1, pending_ * sizeof ids_[0]), ids_, pending_ * sizeof ids_[0]);
      std::memcpy(out_->Grow(2, pending_ * sizeof values_[0]), values_, pending_ * sizeof values_[0]);
      pending_ = 0;
    }

   private:
    static constexpr size_t kBatch = 256;
    RecordBlock* out_;
    int64_t ids_[kBatch];
    float values_[kBatch];
    size_t pending_ = 0;
  };

  Status ParseLineChecked(std::string_view line, int64_t number, const char* readable_end, RecordBlock* out) const {
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
    PairBuffer pairs(out);
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
        pairs.Add(id, value);
      }
      p = after;
    }
    pairs.Flush();
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
                [this](std::string_view text, int64_t first, RecordBlock* out, int64_t* lines) {
                  return lines_.Parse(text, first, out, lines);
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

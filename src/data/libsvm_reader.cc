// The libsvm reader (record_reader.h).
#include <algorithm>
#include <vector>

#include "data/line_reader.h"
#include "data/parse_number.h"
#include "data/record_reader.h"

namespace flowps::data {
namespace {

class LibsvmReader final : public RecordReader {
 public:
  LibsvmReader(std::unique_ptr<LineReader> lines, int64_t dense_dim) : lines_(std::move(lines)), dense_dim_(dense_dim) {
    if (dense_dim_ > 0) {
      schema_ = {{"features", DType::kFloat32, {dense_dim_}, ""}, {"label", DType::kInt32, {}, ""}};
      dense_.resize(static_cast<size_t>(dense_dim_));
    } else {
      schema_ = {{"label", DType::kInt32, {}, ""},
                 {"ids", DType::kInt64, {}, "offsets"},
                 {"values", DType::kFloat32, {}, "offsets"}};
    }
  }

  const Schema& schema() const override { return schema_; }

  StatusOr<bool> Next(Example* out) override {
    std::string_view line;
    FLOWPS_ASSIGN_OR_RETURN(bool more, lines_->NextContent(&line, '#'));
    if (!more) return false;
    ids_.clear();
    values_.clear();
    const char* p = line.data();
    const char* end = p + line.size();
    int32_t label = 0;
    const char* next = ParseNumberAt(p, end, &label);
    if (next == nullptr || (next < end && next[-1] != ' ' && next[-1] != '\t'))
      return lines_->Error("label '" + std::string(Token(line, p)) + "' is not an integer");
    for (p = next; p < end;) {
      int64_t id = 0;
      float value = 0;
      const std::string_view pair = Token(line, p);
      const size_t colon = pair.find(':');
      if (colon == std::string_view::npos) return lines_->Error("'" + std::string(pair) + "' is not id:value");
      const char* after_id = ParseNumberAt(pair.data(), pair.data() + colon, &id);
      if (after_id != pair.data() + colon)
        return lines_->Error("id '" + std::string(pair.substr(0, colon)) + "' is not an int64");
      const char* after_value = ParseNumberAt(pair.data() + colon + 1, pair.data() + pair.size(), &value);
      if (after_value != pair.data() + pair.size())
        return lines_->Error("value '" + std::string(pair.substr(colon + 1)) + "' of id " + std::to_string(id) +
                             " is not a number");
      ids_.push_back(id);
      values_.push_back(value);
      p = SkipSpaces(pair.data() + pair.size(), end);
    }
    if (dense_dim_ > 0) {
      std::fill(dense_.begin(), dense_.end(), 0.f);
      for (size_t i = 0; i < ids_.size(); ++i) {
        if (ids_[i] < 0 || ids_[i] >= dense_dim_)
          return lines_->Error("id " + std::to_string(ids_[i]) + " is outside [0, " + std::to_string(dense_dim_) +
                               ") (data.dense_dim)");
        dense_[static_cast<size_t>(ids_[i])] = values_[i];
      }
      out->columns.resize(2);
      out->Set(0, dense_.data(), dense_.size());
      out->Set(1, &label, 1);
    } else {
      out->columns.resize(3);
      out->Set(0, &label, 1);
      out->Set(1, ids_.data(), ids_.size());
      out->Set(2, values_.data(), values_.size());
    }
    return true;
  }

 private:
  // The space-separated token of `line` that starts at or after p.
  static std::string_view Token(std::string_view line, const char* p) {
    const char* end = line.data() + line.size();
    p = SkipSpaces(p, end);
    const char* stop = p;
    while (stop < end && *stop != ' ' && *stop != '\t') ++stop;
    return std::string_view(p, static_cast<size_t>(stop - p));
  }

  std::unique_ptr<LineReader> lines_;
  int64_t dense_dim_;
  Schema schema_;
  std::vector<int64_t> ids_;
  std::vector<float> values_;
  std::vector<float> dense_;
};

}  // namespace

StatusOr<std::unique_ptr<RecordReader>> OpenLibsvmReader(const std::string& path, int64_t dense_dim) {
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<LineReader> lines, LineReader::Open(path));
  return std::unique_ptr<RecordReader>(new LibsvmReader(std::move(lines), dense_dim));
}

}  // namespace flowps::data

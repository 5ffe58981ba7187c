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
    size_t end = line.find_first_of(" \t");
    std::string_view label_text = line.substr(0, end);
    int32_t label = 0;
    if (!ParseNumber(label_text, &label))
      return lines_->Error("label '" + std::string(label_text) + "' is not an integer");
    while (end != std::string_view::npos) {
      size_t start = line.find_first_not_of(" \t", end);
      if (start == std::string_view::npos) break;
      end = line.find_first_of(" \t", start);
      std::string_view pair = line.substr(start, end == std::string_view::npos ? line.npos : end - start);
      size_t colon = pair.find(':');
      int64_t id = 0;
      float value = 0;
      if (colon == std::string_view::npos)
        return lines_->Error("'" + std::string(pair) + "' is not id:value");
      if (!ParseNumber(pair.substr(0, colon), &id))
        return lines_->Error("id '" + std::string(pair.substr(0, colon)) + "' is not an int64");
      if (!ParseNumber(pair.substr(colon + 1), &value))
        return lines_->Error("value '" + std::string(pair.substr(colon + 1)) + "' of id " + std::to_string(id) +
                             " is not a number");
      ids_.push_back(id);
      values_.push_back(value);
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

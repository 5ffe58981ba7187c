#include "data/example.h"

namespace flowps::data {

int64_t ColumnSpec::values_per_example() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ColumnSpec::Describe() const {
  if (ragged()) return std::string("ragged ") + DTypeName(dtype) + " (offsets in '" + offsets + "')";
  return std::string(DTypeName(dtype)) + " " + Shape(shape).ToString();
}

const ColumnSpec* FindColumn(const Schema& schema, const std::string& name) {
  for (const ColumnSpec& c : schema)
    if (c.name == name) return &c;
  return nullptr;
}

std::string DescribeSchema(const Schema& schema) {
  std::string out;
  for (const ColumnSpec& c : schema) out += (out.empty() ? "" : ", ") + c.name + " " + c.Describe();
  return out;
}

void Example::Assign(const RecordBlock& block, int64_t i) {
  columns.resize(block.columns.size());
  for (size_t c = 0; c < columns.size(); ++c) {
    const std::string_view v = block.Record(c, i);
    columns[c].assign(v.begin(), v.end());
  }
}

void RecordBlock::Reset(const Schema& schema) {
  columns.resize(schema.size());
  for (size_t c = 0; c < schema.size(); ++c) {
    columns[c].values.clear();
    columns[c].ends.clear();
    columns[c].row_bytes =
        schema[c].ragged() ? 0 : static_cast<size_t>(schema[c].values_per_example()) * DTypeSize(schema[c].dtype);
  }
  size = 0;
}

void RecordBlock::ResetLike(const RecordBlock& other) {
  columns.resize(other.columns.size());
  for (size_t c = 0; c < columns.size(); ++c) {
    columns[c].values.clear();
    columns[c].ends.clear();
    columns[c].row_bytes = other.columns[c].row_bytes;
  }
  size = 0;
}

void RecordBlock::AppendRecord(const RecordBlock& from, int64_t i) {
  for (size_t c = 0; c < columns.size(); ++c) {
    const std::string_view v = from.Record(c, i);
    if (!v.empty()) std::memcpy(Grow(c, v.size()), v.data(), v.size());
  }
  EndRecord();
}

void RecordBlock::Truncate(int64_t n) {
  const size_t records = static_cast<size_t>(n);
  for (Column& col : columns) {
    if (col.row_bytes > 0) {
      col.values.resize(records * col.row_bytes);
    } else {
      col.ends.resize(records);
      col.values.resize(records == 0 ? 0 : col.ends.back());
    }
  }
  size = n;
}

void RecordBlock::Append(const Example& e) {
  for (size_t c = 0; c < columns.size(); ++c) {
    const std::vector<char>& v = e.columns[c];
    if (!v.empty()) std::memcpy(Grow(c, v.size()), v.data(), v.size());
  }
  EndRecord();
}

BatchBuilder::BatchBuilder(const Schema& schema, int64_t capacity)
    : schema_(&schema), capacity_(capacity), dense_(schema.size()), ragged_(schema.size()), offsets_(schema.size()) {}

void BatchBuilder::Allocate(size_t c) {
  const ColumnSpec& col = (*schema_)[c];
  std::vector<int64_t> dims = {capacity_};
  dims.insert(dims.end(), col.shape.begin(), col.shape.end());
  dense_[c] = Tensor(col.dtype, Shape(dims));
}

template <typename ColumnBytes>
void BatchBuilder::AddRecord(ColumnBytes column) {
  const Schema& schema = *schema_;
  for (size_t c = 0; c < schema.size(); ++c) {
    const ColumnSpec& col = schema[c];
    const std::string_view v = column(c);
    if (col.ragged()) {
      if (offsets_[c].empty()) offsets_[c].push_back(0);
      ragged_[c].insert(ragged_[c].end(), v.begin(), v.end());
      offsets_[c].push_back(static_cast<int64_t>(ragged_[c].size() / DTypeSize(col.dtype)));
      continue;
    }
    if (!dense_[c].valid()) Allocate(c);
    const size_t bytes = static_cast<size_t>(col.values_per_example()) * DTypeSize(col.dtype);
    if (v.size() != bytes) {
      if (error_.empty())
        error_ = "column '" + col.name + "' of an example holds " + std::to_string(v.size()) + " bytes, not " +
                 std::to_string(bytes);
      continue;
    }
    std::memcpy(static_cast<char*>(dense_[c].raw_data()) + static_cast<size_t>(size_) * bytes, v.data(), bytes);
  }
  ++size_;
}

void BatchBuilder::Add(const RecordBlock& block, int64_t i) {
  AddRecord([&](size_t c) { return block.Record(c, i); });
}

void BatchBuilder::Add(const Example& e) {
  AddRecord([&](size_t c) { return std::string_view(e.columns[c].data(), e.columns[c].size()); });
}

StatusOr<ColumnBatch> BatchBuilder::Take(int64_t epoch) {
  const Schema& schema = *schema_;
  ColumnBatch batch;
  batch.size = size_;
  batch.epoch = epoch;
  Status error = error_.empty() ? Status::OK() : Internal(error_);
  for (size_t c = 0; c < schema.size(); ++c) {
    const ColumnSpec& col = schema[c];
    if (!col.ragged()) {
      if (!dense_[c].valid()) Allocate(c);
      // A partial batch is a view of the first rows of the full one's storage.
      std::vector<int64_t> dims = {size_};
      dims.insert(dims.end(), col.shape.begin(), col.shape.end());
      batch.columns[col.name] = size_ == capacity_ ? dense_[c] : Tensor(col.dtype, Shape(dims), dense_[c].buffer());
      dense_[c] = Tensor();
      continue;
    }
    if (offsets_[c].empty()) offsets_[c].push_back(0);
    // The batch takes the gathered values and offsets over without copying
    // them; the next batch's start as large.
    const size_t bytes = ragged_[c].size(), offsets = offsets_[c].size();
    auto values = std::make_shared<ByteVector>(std::move(ragged_[c]));
    auto ends = std::make_shared<std::vector<int64_t>>(std::move(offsets_[c]));
    batch.columns[col.name] = bytes == 0 ? Tensor(col.dtype, Shape{0})
                                         : Tensor(col.dtype, Shape{ends->back()}, Buffer::Wrap(values->data(), bytes, values));
    batch.columns[col.offsets] =
        Tensor(DType::kInt64, Shape{size_ + 1}, Buffer::Wrap(ends->data(), offsets * sizeof(int64_t), ends));
    ragged_[c] = ByteVector();
    ragged_[c].reserve(bytes);
    offsets_[c] = std::vector<int64_t>();
    offsets_[c].reserve(offsets);
  }
  size_ = 0;
  error_.clear();
  FLOWPS_RETURN_IF_ERROR(error);
  return batch;
}

StatusOr<ColumnBatch> MakeBatch(const Schema& schema, const std::vector<Example>& examples, int64_t epoch) {
  BatchBuilder builder(schema, static_cast<int64_t>(examples.size()));
  for (const Example& e : examples) builder.Add(e);
  return builder.Take(epoch);
}

}  // namespace flowps::data

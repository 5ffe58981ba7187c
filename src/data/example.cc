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

StatusOr<ColumnBatch> MakeBatch(const Schema& schema, const std::vector<Example>& examples, int64_t epoch) {
  ColumnBatch batch;
  batch.size = static_cast<int64_t>(examples.size());
  batch.epoch = epoch;
  for (size_t c = 0; c < schema.size(); ++c) {
    const ColumnSpec& col = schema[c];
    const size_t item = DTypeSize(col.dtype);
    if (!col.ragged()) {
      const size_t bytes = static_cast<size_t>(col.values_per_example()) * item;
      std::vector<int64_t> dims = {batch.size};
      dims.insert(dims.end(), col.shape.begin(), col.shape.end());
      Tensor t(col.dtype, Shape(dims));
      char* out = static_cast<char*>(t.raw_data());
      for (const Example& e : examples) {
        if (e.columns[c].size() != bytes)
          return Internal("column '" + col.name + "' of an example holds " + std::to_string(e.columns[c].size()) +
                          " bytes, not " + std::to_string(bytes));
        std::memcpy(out, e.columns[c].data(), bytes);
        out += bytes;
      }
      batch.columns[col.name] = t;
      continue;
    }
    Tensor offsets(DType::kInt64, Shape{batch.size + 1});
    int64_t* off = offsets.data<int64_t>();
    off[0] = 0;
    for (size_t i = 0; i < examples.size(); ++i)
      off[i + 1] = off[i] + static_cast<int64_t>(examples[i].columns[c].size() / item);
    Tensor values(col.dtype, Shape{off[batch.size]});
    char* out = static_cast<char*>(values.raw_data());
    for (const Example& e : examples) {
      std::memcpy(out, e.columns[c].data(), e.columns[c].size());
      out += e.columns[c].size();
    }
    batch.columns[col.name] = values;
    batch.columns[col.offsets] = offsets;
  }
  return batch;
}

}  // namespace flowps::data

// Examples, their schema, and batches of them: what every reader produces and
// what the pipeline hands to a training step.
//
// A reader yields one Example per record: the values of each column of its
// Schema, in schema order, as raw bytes of the column's dtype. A dense column
// holds exactly shape-product values per example; a ragged column (libsvm ids
// and values) holds any number, and its batch carries per-example offsets.
// Values; not thread-safe (one thread fills an Example, then hands it on).
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace flowps::data {

struct ColumnSpec {
  std::string name;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;  // per example (no batch dimension); empty: a scalar
  // Non-empty: the column is ragged and its batch also carries this int64
  // [batch + 1] column of offsets (columns sharing it have equal lengths).
  std::string offsets;

  bool ragged() const { return !offsets.empty(); }
  int64_t values_per_example() const;  // REQUIRES: !ragged()
  // "float32 [784]", "int32 []", "ragged int64 (offsets in 'offsets')".
  std::string Describe() const;
};

using Schema = std::vector<ColumnSpec>;

// The column named `name`, or nullptr.
const ColumnSpec* FindColumn(const Schema& schema, const std::string& name);
// "features float32 [784], label int32 []".
std::string DescribeSchema(const Schema& schema);

struct Example {
  std::vector<std::vector<char>> columns;  // per column of the schema: raw values

  template <typename T> void Set(size_t column, const T* values, size_t n) {
    columns[column].resize(n * sizeof(T));
    std::memcpy(columns[column].data(), values, n * sizeof(T));
  }
  template <typename T> const T* Values(size_t column) const {
    return reinterpret_cast<const T*>(columns[column].data());
  }
  template <typename T> size_t Count(size_t column) const { return columns[column].size() / sizeof(T); }
};

// Named columns of `size` examples: a dense column is [size, shape...]; a
// ragged one is [total values] with its offsets column int64 [size + 1]
// (example i owns values [offsets[i], offsets[i+1])).
struct ColumnBatch {
  std::map<std::string, Tensor> columns;
  int64_t size = 0;
  int64_t epoch = 0;  // the epoch its examples belong to, from 0
};

// Stacks examples of `schema` into a batch. InvalidArgument when a dense
// column of an example holds the wrong number of values (a reader's bug).
StatusOr<ColumnBatch> MakeBatch(const Schema& schema, const std::vector<Example>& examples, int64_t epoch);

}  // namespace flowps::data

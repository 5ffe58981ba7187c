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
#include <string_view>
#include <type_traits>
#include <utility>
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

struct RecordBlock;

struct Example {
  std::vector<std::vector<char>> columns;  // per column of the schema: raw values

  // Copies record i of `block` in, reusing the columns' storage (no
  // allocation once they have held a record as large).
  void Assign(const RecordBlock& block, int64_t i);

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
  // The input thread's work on it (data::Pipeline: from when it began the
  // batch to when the batch was full), on the steady clock in ns, the time
  // base of step traces (TraceRecorder::NowNs); both 0: not timed.
  int64_t read_start_ns = 0, read_end_ns = 0;
};

// An allocator that leaves a new element default-initialized (for char:
// not written at all), so that a vector of bytes grows without zero-filling
// what its user is about to overwrite.
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U> struct rebind { using other = DefaultInitAllocator<U>; };
  DefaultInitAllocator() = default;
  template <typename U> DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}
  template <typename U> void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args> void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
// Bytes whose resize() leaves the new ones unwritten.
using ByteVector = std::vector<char, DefaultInitAllocator<char>>;

// Consecutive records of one file, column by column: what a reader hands on
// in one piece. Its storage is kept across Reset, so a reader that refills
// the same block allocates nothing once it has grown.
struct RecordBlock {
  struct Column {
    ByteVector values;          // dense: size * row_bytes; ragged: every record's values
    size_t row_bytes = 0;       // dense: bytes per record; 0 for a ragged column
    std::vector<size_t> ends;   // ragged: the end of each record's values, in bytes
  };
  std::vector<Column> columns;  // per column of the schema
  int64_t size = 0;             // records

  // Empties the block for records of `schema`.
  void Reset(const Schema& schema);
  // Empties the block for records of the schema of `other`.
  void ResetLike(const RecordBlock& other);
  // Appends a copy of record i of `from` (a block of the same schema).
  void AppendRecord(const RecordBlock& from, int64_t i);
  // Record i's raw values in column c.
  std::string_view Record(size_t c, int64_t i) const {
    const Column& col = columns[c];
    if (col.row_bytes > 0) return {col.values.data() + static_cast<size_t>(i) * col.row_bytes, col.row_bytes};
    const size_t begin = i == 0 ? 0 : col.ends[static_cast<size_t>(i) - 1];
    return {col.values.data() + begin, col.ends[static_cast<size_t>(i)] - begin};
  }
  // Room for `bytes` more bytes at the end of column c's values, which the
  // caller writes (they are not zeroed).
  char* Grow(size_t c, size_t bytes) {
    ByteVector& v = columns[c].values;
    v.resize(v.size() + bytes);
    return v.data() + v.size() - bytes;
  }
  // Closes the record whose values were appended to every column.
  void EndRecord() {
    for (Column& col : columns)
      if (col.row_bytes == 0) col.ends.push_back(col.values.size());
    ++size;
  }
  // Drops the records from n on (and the values of a record not ended).
  void Truncate(int64_t n);
  void Append(const Example& e);
};

// Stacks records one by one into a batch of at most `capacity`, straight into
// its tensors (dense columns) or into one buffer per ragged column.
class BatchBuilder {
 public:
  // `schema` must outlive the builder. REQUIRES: capacity >= 0.
  BatchBuilder(const Schema& schema, int64_t capacity);
  void Add(const RecordBlock& block, int64_t i);
  void Add(const Example& e);
  int64_t size() const { return size_; }
  bool full() const { return size_ == capacity_; }
  // The batch so far; the builder starts a new one. InvalidArgument when a
  // dense column of a record held the wrong number of bytes (a reader's bug).
  StatusOr<ColumnBatch> Take(int64_t epoch);

 private:
  template <typename ColumnBytes> void AddRecord(ColumnBytes column);
  void Allocate(size_t c);  // dense_[c] for a new batch
  const Schema* schema_;
  int64_t capacity_;
  int64_t size_ = 0;
  std::vector<Tensor> dense_;                  // per column (dense ones): [capacity, shape...]
  std::vector<ByteVector> ragged_;             // per column (ragged ones): the values
  std::vector<std::vector<int64_t>> offsets_;  // per column (ragged ones): [size + 1]
  std::string error_;
};

// Stacks examples of `schema` into a batch. InvalidArgument when a dense
// column of an example holds the wrong number of values (a reader's bug).
StatusOr<ColumnBatch> MakeBatch(const Schema& schema, const std::vector<Example>& examples, int64_t epoch);

}  // namespace flowps::data

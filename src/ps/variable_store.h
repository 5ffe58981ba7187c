// VariableStore: the variables (or row-partitions of variables) that live on
// one ps shard, with their optimizer slots.
//
// Values are float32. A part knows the full shape of its variable and the
// rows [row_begin, row_end) it holds; sparse pulls and pushes name rows by
// their global row id and are refused if a row belongs to another shard.
//
// Thread safety: every method may be called from any thread. The set of
// variables is guarded by a shared mutex (Create takes it exclusively); each
// variable's value and slots are guarded by that variable's own mutex, so
// pushes to different variables proceed in parallel. Values are copy-on-write:
// Pull hands out the current buffer without copying, and an update that finds
// its buffer still referenced by a reader writes into a fresh copy, so a pulled
// tensor never changes under its reader.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/initializers.h"
#include "kernels/optimizers.h"

namespace flowps {

class ThreadPool;

namespace ps {

struct VariableSpec {
  std::string name;
  Shape full_shape;
  int64_t row_begin = 0;
  int64_t row_end = -1;  // -1: up to the last row (the whole variable)
  kernels::InitializerSpec initializer;
};

// A gradient for one variable part. Dense: `values` has the part's shape and
// `indices` is invalid. Sparse: `indices` (int32/int64, rank 1) are global row
// ids held by this part and `values` is [len(indices), row dims...].
struct Gradient {
  std::string variable;
  Tensor values;
  Tensor indices;
  bool sparse() const { return indices.valid(); }
};

// A consistent copy of one variable part (shares buffers; never mutated).
struct VariableSnapshot {
  std::string name;
  Shape full_shape;
  int64_t row_begin = 0;
  int64_t row_end = 0;
  Tensor value;
  std::vector<Tensor> slots;  // in Optimizer::SlotNames() order
};

class VariableStore {
 public:
  // `pool` (not owned, may be null) parallelises dense updates of large variables.
  VariableStore(OptimizerConfig optimizer, ThreadPool* pool);
  VariableStore(const VariableStore&) = delete;
  VariableStore& operator=(const VariableStore&) = delete;

  const kernels::Optimizer& optimizer() const { return optimizer_; }

  // Creates and initialises a part. If a part of that name exists already with
  // the same shape and rows (a retried create, or a variable restored from a
  // checkpoint) it is kept as it is and *created is false. AlreadyExists if it
  // exists with another shape or rows; InvalidArgument for a bad spec.
  Status Create(const VariableSpec& spec, bool* created);

  // The whole part, without copying (copy-on-write, see above).
  StatusOr<Tensor> Pull(const std::string& name) const;
  // Copies of the rows `indices` (global row ids), [len(indices), row dims...].
  StatusOr<Tensor> PullRows(const std::string& name, const Tensor& indices) const;
  // Rows [row_begin, row_end) this store holds of `name`, and the full shape.
  StatusOr<VariableSnapshot> Describe(const std::string& name) const;

  // Bytes of one row of `name` (the whole part for a scalar) and the rows
  // this part holds; from the part's immutable shape, without its lock.
  StatusOr<int64_t> RowBytes(const std::string& name) const;
  StatusOr<int64_t> PartRows(const std::string& name) const;

  // OK only if every gradient names a known variable, has the right dtype and
  // shape, holds only finite values, names only rows of this part, and no
  // variable appears twice. Messages name the variable.
  Status Validate(const std::vector<Gradient>& grads) const;
  // Validate without the scan of the values (names, dtypes, shapes, rows): cheap.
  Status ValidateShapes(const std::vector<Gradient>& grads) const;
  // Validates all of `grads`, then applies each one with the optimizer at
  // global step `step` (counted from 1). Nothing is changed unless all are valid.
  Status Apply(const std::vector<Gradient>& grads, int64_t step);
  // The same for gradients that passed Validate already: their values are not
  // scanned again (names, shapes and rows are, which is cheap).
  Status ApplyValidated(const std::vector<Gradient>& grads, int64_t step);

  std::vector<std::string> Names() const;
  int64_t TotalBytes() const;  // values only; never waits for an apply
  // A consistent copy of each part (each part read under its own lock).
  std::vector<VariableSnapshot> Snapshot() const;
  // Replaces every variable by `parts` (slots must match the optimizer).
  Status Restore(std::vector<VariableSnapshot> parts);

 private:
  struct Variable {
    mutable std::mutex mu;
    VariableSnapshot state;  // guarded by mu
  };
  StatusOr<Variable*> Find(const std::string& name) const;  // REQUIRES: mu_ held (shared)
  // REQUIRES: mu_ held (shared). `check_values`: also scan for NaN and Inf.
  Status ValidateLocked(const std::vector<Gradient>& grads, bool check_values) const;
  Status ApplyLocked(const std::vector<Gradient>& grads, int64_t step, bool check_values);
  // Global row ids (int32/int64) -> int64 local rows of `v` (the ids
  // themselves, uncopied, when they are int64 and `v` starts at row 0), or
  // InvalidArgument naming the variable and the row.
  static StatusOr<Tensor> LocalRows(const VariableSnapshot& v, const Tensor& indices);

  kernels::Optimizer optimizer_;
  ThreadPool* pool_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<Variable>> variables_;  // guarded by mu_
};

}  // namespace ps
}  // namespace flowps

// PartitionPlan: which rows of which variable live on which ps shard.
//
// A pure function of the variables and the shard count, so that every worker
// and the chief compute the same plan without asking anyone. Variables larger
// than `min_partition_bytes` are split by rows into contiguous, near-equal row
// ranges on distinct shards; the others are placed whole. Placement is greedy
// by bytes (largest first, onto the least-loaded shard, ties to the lowest
// index), which keeps the shards balanced. Lives in core because the ps client
// (net) and the ps both use it, and neither may include the other.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace flowps {

struct VariableInfo {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
};

struct VariablePart {
  int shard = 0;
  int64_t row_begin = 0;  // rows [row_begin, row_end) of the full variable; a scalar has one row
  int64_t row_end = 0;
};

struct VariablePlacement {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape full_shape;
  std::vector<VariablePart> parts;  // sorted by row_begin, covering every row exactly once

  int64_t rows() const { return full_shape.rank() == 0 ? 1 : full_shape.dim(0); }
  // The shape of one part: full_shape with dim 0 replaced by the part's rows.
  Shape PartShape(const VariablePart& part) const;
  // For each part, the positions in `rows` (global row ids) that it owns.
  // InvalidArgument naming the variable if a row is outside [0, rows()).
  StatusOr<std::vector<std::vector<int64_t>>> GroupRowsByPart(const std::vector<int64_t>& rows) const;
  StatusOr<std::vector<std::vector<int64_t>>> GroupRowsByPart(const int64_t* rows, size_t n) const;
};

struct PartitionPlan {
  int num_shards = 0;
  std::vector<VariablePlacement> variables;  // in the order given to PlanPartitions

  const VariablePlacement* Find(const std::string& name) const;  // nullptr if unknown
  std::vector<int64_t> BytesPerShard() const;
};

// InvalidArgument on duplicate names, shapes that are not fully defined, or
// num_shards < 1.
StatusOr<PartitionPlan> PlanPartitions(const std::vector<VariableInfo>& variables, int num_shards,
                                       int64_t min_partition_bytes);

}  // namespace flowps

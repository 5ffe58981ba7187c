#include "core/partition_plan.h"

#include <algorithm>
#include <numeric>
#include <set>

namespace flowps {

Shape VariablePlacement::PartShape(const VariablePart& part) const {
  if (full_shape.rank() == 0) return full_shape;
  std::vector<int64_t> dims = full_shape.dims();
  dims[0] = part.row_end - part.row_begin;
  return Shape(std::move(dims));
}

StatusOr<std::vector<std::vector<int64_t>>> VariablePlacement::GroupRowsByPart(
    const std::vector<int64_t>& rows_in) const {
  return GroupRowsByPart(rows_in.data(), rows_in.size());
}

StatusOr<std::vector<std::vector<int64_t>>> VariablePlacement::GroupRowsByPart(const int64_t* rows_in,
                                                                               size_t n) const {
  std::vector<std::vector<int64_t>> out(parts.size());
  for (size_t i = 0; i < n; ++i) {
    const int64_t r = rows_in[i];
    if (r < 0 || r >= rows())
      return InvalidArgument("variable '" + name + "': row " + std::to_string(r) + " is outside [0, " +
                             std::to_string(rows()) + ")");
    auto it = std::upper_bound(parts.begin(), parts.end(), r,
                               [](int64_t row, const VariablePart& p) { return row < p.row_end; });
    out[static_cast<size_t>(it - parts.begin())].push_back(static_cast<int64_t>(i));
  }
  return out;
}

const VariablePlacement* PartitionPlan::Find(const std::string& name) const {
  for (const VariablePlacement& v : variables)
    if (v.name == name) return &v;
  return nullptr;
}

std::vector<int64_t> PartitionPlan::BytesPerShard() const {
  std::vector<int64_t> bytes(static_cast<size_t>(num_shards), 0);
  for (const VariablePlacement& v : variables)
    for (const VariablePart& p : v.parts)
      bytes[static_cast<size_t>(p.shard)] +=
          v.PartShape(p).num_elements() * static_cast<int64_t>(DTypeSize(v.dtype));
  return bytes;
}

StatusOr<PartitionPlan> PlanPartitions(const std::vector<VariableInfo>& variables, int num_shards,
                                       int64_t min_partition_bytes) {
  if (num_shards < 1) return InvalidArgument("partition plan: need at least one ps shard");
  std::set<std::string> names;
  for (const VariableInfo& v : variables) {
    if (!names.insert(v.name).second)
      return InvalidArgument("partition plan: variable '" + v.name + "' is declared twice");
    if (!v.shape.fully_defined())
      return InvalidArgument("partition plan: variable '" + v.name + "' has shape " + v.shape.ToString() +
                             ", which is not fully defined");
  }
  PartitionPlan plan;
  plan.num_shards = num_shards;
  plan.variables.resize(variables.size());
  auto bytes_of = [&](size_t i) {
    return variables[i].shape.num_elements() * static_cast<int64_t>(DTypeSize(variables[i].dtype));
  };
  std::vector<size_t> order(variables.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return bytes_of(a) > bytes_of(b); });

  std::vector<int64_t> load(static_cast<size_t>(num_shards), 0);
  for (size_t i : order) {
    const VariableInfo& v = variables[i];
    VariablePlacement& out = plan.variables[i];
    out.name = v.name;
    out.dtype = v.dtype;
    out.full_shape = v.shape;
    const int64_t rows = out.rows();
    const int64_t bytes = bytes_of(i);
    int64_t k = 1;
    if (v.shape.rank() >= 1 && min_partition_bytes > 0 && bytes > min_partition_bytes)
      k = std::min<int64_t>({num_shards, rows, (bytes + min_partition_bytes - 1) / min_partition_bytes});
    k = std::max<int64_t>(k, 1);
    // The k least-loaded shards, in shard order so that row ranges ascend with the shard index.
    std::vector<int> shards(static_cast<size_t>(num_shards));
    std::iota(shards.begin(), shards.end(), 0);
    std::stable_sort(shards.begin(), shards.end(), [&](int a, int b) { return load[a] < load[b]; });
    shards.resize(static_cast<size_t>(k));
    std::sort(shards.begin(), shards.end());
    for (int64_t p = 0; p < k; ++p) {
      VariablePart part{shards[static_cast<size_t>(p)], rows * p / k, rows * (p + 1) / k};
      load[static_cast<size_t>(part.shard)] += bytes * (part.row_end - part.row_begin) / std::max<int64_t>(rows, 1);
      out.parts.push_back(part);
    }
  }
  return plan;
}

}  // namespace flowps

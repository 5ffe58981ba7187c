#include "net/table_keys.h"

#include <cstring>
#include <unordered_map>

#include "core/key_shard.h"

namespace flowps {

TableKeys::TableKeys(const int64_t* ids, int64_t n, int num_shards) : position_(static_cast<size_t>(n)) {
  std::unordered_map<int64_t, Position> seen;
  seen.reserve(static_cast<size_t>(n));
  std::vector<int32_t> count(static_cast<size_t>(num_shards), 0);
  std::vector<int64_t> firsts;  // the position of each key's first appearance, in order
  for (int64_t i = 0; i < n; ++i) {
    auto [it, fresh] = seen.try_emplace(ids[i]);
    if (fresh) {
      const int s = TableShardOf(ids[i], num_shards);
      it->second = {s, count[static_cast<size_t>(s)]++};
      firsts.push_back(i);
    }
    position_[static_cast<size_t>(i)] = it->second;
  }
  for (int32_t c : count) shard_keys_.emplace_back(DType::kInt64, Shape{c});
  for (int64_t i : firsts) {
    const Position& p = position_[static_cast<size_t>(i)];
    shard_keys_[static_cast<size_t>(p.shard)].data<int64_t>()[p.index] = ids[i];
  }
}

int64_t TableKeys::num_distinct() const {
  int64_t total = 0;
  for (const Tensor& keys : shard_keys_) total += keys.num_elements();
  return total;
}

std::vector<int64_t> TableKeys::ConcatenatedKeys() const {
  std::vector<int64_t> keys;
  keys.reserve(static_cast<size_t>(num_distinct()));
  for (const Tensor& shard : shard_keys_)
    keys.insert(keys.end(), shard.data<int64_t>(), shard.data<int64_t>() + shard.num_elements());
  return keys;
}

std::vector<int32_t> TableKeys::ConcatenatedIndex() const {
  std::vector<int32_t> first(shard_keys_.size(), 0);  // each shard's first position
  for (size_t s = 1; s < first.size(); ++s)
    first[s] = first[s - 1] + static_cast<int32_t>(shard_keys_[s - 1].num_elements());
  std::vector<int32_t> index;
  index.reserve(position_.size());
  for (const Position& p : position_) index.push_back(first[static_cast<size_t>(p.shard)] + p.index);
  return index;
}

void TableKeys::Gather(const std::vector<const float*>& shard_rows, int64_t dim, float* out) const {
  const size_t row_bytes = static_cast<size_t>(dim) * sizeof(float);
  for (const Position& p : position_) {
    std::memcpy(out, shard_rows[static_cast<size_t>(p.shard)] + static_cast<int64_t>(p.index) * dim, row_bytes);
    out += dim;
  }
}

std::vector<std::vector<float>> TableKeys::SumGradients(const float* grads, int64_t dim) const {
  std::vector<std::vector<float>> sums(shard_keys_.size());
  for (size_t s = 0; s < sums.size(); ++s)
    sums[s].assign(static_cast<size_t>(shard_keys_[s].num_elements() * dim), 0.0f);
  for (const Position& p : position_) {
    float* dst = sums[static_cast<size_t>(p.shard)].data() + static_cast<int64_t>(p.index) * dim;
    for (int64_t j = 0; j < dim; ++j) dst[j] += grads[j];
    grads += dim;
  }
  return sums;
}

}  // namespace flowps

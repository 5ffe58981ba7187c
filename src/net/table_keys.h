// TableKeys: a worker's ids of one batch for one embedding table,
// deduplicated and split by the ps shard that holds each key
// (TableShardOf). The worker asks each shard once for its distinct keys, puts
// the rows it gets back at every position of the batch (Gather), and sums the
// batch's per-position gradients into one gradient per distinct key
// (SumGradients) before pushing them to the same shards. The keys of each
// shard are an int64 tensor, sent as they are (referenced by the request).
//
// A value type; not thread-safe to mutate, safe to share once built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace flowps {

class TableKeys {
 public:
  // `ids[0..n)` of a batch, for a table sharded over `num_shards` (>= 1).
  TableKeys(const int64_t* ids, int64_t n, int num_shards);

  int num_shards() const { return static_cast<int>(shard_keys_.size()); }
  int64_t num_ids() const { return static_cast<int64_t>(position_.size()); }
  // The distinct keys shard `s` holds, in order of first appearance: int64 [n].
  const Tensor& shard_keys(int s) const { return shard_keys_[static_cast<size_t>(s)]; }
  int64_t num_shard_keys(int s) const { return shard_keys(s).num_elements(); }
  int64_t num_distinct() const;

  // The distinct keys of all shards, concatenated in shard order (shard 0's
  // first): the order of the rows a worker feeds its graph, [num_distinct()].
  std::vector<int64_t> ConcatenatedKeys() const;
  // For each id of the batch, the position of its key in ConcatenatedKeys().
  std::vector<int32_t> ConcatenatedIndex() const;

  // out[i * dim ..] = the row of ids[i], from shard_rows[s] (each
  // [shard_keys(s).size(), dim], in shard_keys(s) order). out has num_ids() * dim floats.
  void Gather(const std::vector<const float*>& shard_rows, int64_t dim, float* out) const;
  // Per shard, [shard_keys(s).size(), dim]: the sum of grads[i * dim ..] over
  // the positions i whose id is that key.
  std::vector<std::vector<float>> SumGradients(const float* grads, int64_t dim) const;

 private:
  struct Position {
    int32_t shard;
    int32_t index;  // into shard_keys_[shard]
  };
  std::vector<Tensor> shard_keys_;
  std::vector<Position> position_;  // per id of the batch
};

}  // namespace flowps

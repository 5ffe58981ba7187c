// BatchIterator: one worker's shard of a Dataset, in batches, epoch after epoch.
//
// Sharding: worker k of n owns the contiguous examples
// [k * size / n, (k + 1) * size / n); shards are disjoint and cover the set.
// Shuffling: at the start of every epoch the shard's order is permuted by a
// Fisher-Yates shuffle driven by mt19937_64 seeded from (seed, epoch), so a
// run is reproducible and each epoch has its own order.
// Last partial batch: kept by default (the epoch's last batch may be smaller);
// with drop_remainder it is dropped, so every batch has batch_size rows.
// Unshuffled batches are zero-copy slices of the dataset; shuffled ones are
// gathered into fresh tensors. Not thread-safe: one iterator per worker loop.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "data/dataset.h"

namespace flowps::data {

struct BatchOptions {
  int64_t batch_size = 64;  // > 0
  bool shuffle = true;
  uint64_t seed = 0;
  int shard_index = 0;      // 0 <= shard_index < num_shards
  int num_shards = 1;       // <= dataset size
  bool drop_remainder = false;
};

struct Batch {
  Tensor images;  // float32 [b, features]
  Tensor labels;  // int32 [b]
  int64_t epoch = 0;
};

class BatchIterator {
 public:
  // InvalidArgument for a bad batch size or shard, naming the value.
  static StatusOr<BatchIterator> Create(Dataset dataset, BatchOptions options);

  // The next batch; an epoch ends after batches_per_epoch() batches and the
  // next one starts at once (reshuffled).
  Batch Next();

  int64_t epoch() const { return epoch_; }
  int64_t shard_size() const { return end_ - begin_; }
  int64_t batches_per_epoch() const;
  // Examples of this shard delivered so far, over all epochs.
  int64_t examples_seen() const { return seen_; }

 private:
  BatchIterator(Dataset dataset, BatchOptions options, int64_t begin, int64_t end);
  void StartEpoch();

  Dataset dataset_;
  BatchOptions options_;
  int64_t begin_, end_;
  std::vector<int64_t> order_;  // permutation of [begin_, end_) for this epoch
  int64_t position_ = 0;        // next index into order_
  int64_t epoch_ = 0;
  int64_t seen_ = 0;
};

}  // namespace flowps::data

#include "data/batch_iterator.h"

#include <cstring>
#include <numeric>
#include <random>

namespace flowps::data {

StatusOr<BatchIterator> BatchIterator::Create(Dataset dataset, BatchOptions options) {
  if (options.batch_size <= 0)
    return InvalidArgument("batch size " + std::to_string(options.batch_size) + " must be positive");
  if (options.num_shards <= 0 || options.shard_index < 0 || options.shard_index >= options.num_shards)
    return InvalidArgument("shard " + std::to_string(options.shard_index) + " of " + std::to_string(options.num_shards) +
                           " is not a valid shard");
  int64_t n = dataset.size();
  if (n < options.num_shards)
    return InvalidArgument("dataset of " + std::to_string(n) + " examples cannot be split into " +
                           std::to_string(options.num_shards) + " shards");
  int64_t begin = options.shard_index * n / options.num_shards;
  int64_t end = (options.shard_index + 1) * n / options.num_shards;
  if (options.drop_remainder && end - begin < options.batch_size)
    return InvalidArgument("shard of " + std::to_string(end - begin) + " examples holds no full batch of " +
                           std::to_string(options.batch_size));
  return BatchIterator(std::move(dataset), options, begin, end);
}

BatchIterator::BatchIterator(Dataset dataset, BatchOptions options, int64_t begin, int64_t end)
    : dataset_(std::move(dataset)), options_(options), begin_(begin), end_(end) {
  StartEpoch();
}

int64_t BatchIterator::batches_per_epoch() const {
  int64_t n = shard_size(), b = options_.batch_size;
  return options_.drop_remainder ? n / b : (n + b - 1) / b;
}

void BatchIterator::StartEpoch() {
  position_ = 0;
  order_.resize(static_cast<size_t>(end_ - begin_));
  std::iota(order_.begin(), order_.end(), begin_);
  if (!options_.shuffle) return;
  std::seed_seq seq{static_cast<uint32_t>(options_.seed), static_cast<uint32_t>(options_.seed >> 32),
                    static_cast<uint32_t>(epoch_), static_cast<uint32_t>(options_.shard_index)};
  std::mt19937_64 rng(seq);
  for (size_t i = order_.size(); i > 1; --i) {
    size_t j = static_cast<size_t>(rng() % i);
    std::swap(order_[i - 1], order_[j]);
  }
}

Batch BatchIterator::Next() {
  int64_t remaining = static_cast<int64_t>(order_.size()) - position_;
  if (remaining == 0 || (options_.drop_remainder && remaining < options_.batch_size)) {
    ++epoch_;
    StartEpoch();
    remaining = static_cast<int64_t>(order_.size());
  }
  int64_t b = std::min(options_.batch_size, remaining);
  Batch batch;
  batch.epoch = epoch_;
  if (!options_.shuffle) {
    int64_t first = order_[position_];
    batch.images = dataset_.images.Slice(first, first + b);
    batch.labels = dataset_.labels.Slice(first, first + b);
  } else {
    int64_t f = dataset_.features();
    batch.images = Tensor(DType::kFloat32, Shape{b, f});
    batch.labels = Tensor(DType::kInt32, Shape{b});
    const float* src = dataset_.images.data<float>();
    const int32_t* labels = dataset_.labels.data<int32_t>();
    for (int64_t i = 0; i < b; ++i) {
      int64_t row = order_[position_ + i];
      std::memcpy(batch.images.data<float>() + i * f, src + row * f, static_cast<size_t>(f) * sizeof(float));
      batch.labels.data<int32_t>()[i] = labels[row];
    }
  }
  position_ += b;
  seen_ += b;
  return batch;
}

}  // namespace flowps::data

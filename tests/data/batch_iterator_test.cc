#include <catch2/catch.hpp>

#include <set>

#include "data/batch_iterator.h"

using namespace flowps;
using namespace flowps::data;

namespace {

// n examples of 2 features: example i has features (i, -i) and label i % 10.
Dataset Numbered(int64_t n) {
  Dataset ds;
  ds.rows = 1;
  ds.cols = 2;
  ds.num_classes = 10;
  ds.images = Tensor(DType::kFloat32, Shape{n, 2});
  ds.labels = Tensor(DType::kInt32, Shape{n});
  for (int64_t i = 0; i < n; ++i) {
    ds.images.data<float>()[2 * i] = static_cast<float>(i);
    ds.images.data<float>()[2 * i + 1] = -static_cast<float>(i);
    ds.labels.data<int32_t>()[i] = static_cast<int32_t>(i % 10);
  }
  return ds;
}

std::vector<int64_t> EpochIds(BatchIterator& it) {
  std::vector<int64_t> ids;
  for (int64_t b = 0; b < it.batches_per_epoch(); ++b) {
    Batch batch = it.Next();
    for (int64_t r = 0; r < batch.images.shape().dim(0); ++r) {
      int64_t id = static_cast<int64_t>(batch.images.data<float>()[2 * r]);
      REQUIRE(batch.images.data<float>()[2 * r + 1] == -static_cast<float>(id));  // rows stay whole
      REQUIRE(batch.labels.data<int32_t>()[r] == id % 10);                          // labels follow images
      ids.push_back(id);
    }
  }
  return ids;
}

}  // namespace

TEST_CASE("an unshuffled epoch is the shard in order, with a smaller last batch kept") {
  auto it = BatchIterator::Create(Numbered(10), {.batch_size = 4, .shuffle = false});
  REQUIRE(it.ok());
  CHECK(it->batches_per_epoch() == 3);
  Batch b0 = it->Next();
  CHECK(b0.images.shape() == Shape{4, 2});
  it->Next();
  Batch last = it->Next();
  CHECK(last.images.shape() == Shape{2, 2});
  CHECK(last.labels.ToVector<int32_t>() == std::vector<int32_t>{8, 9});
  CHECK(it->Next().epoch == 1);  // wraps into the next epoch
}

TEST_CASE("with drop_remainder every batch is full") {
  auto it = BatchIterator::Create(Numbered(10), {.batch_size = 4, .shuffle = true, .seed = 3, .drop_remainder = true});
  REQUIRE(it.ok());
  CHECK(it->batches_per_epoch() == 2);
  for (int i = 0; i < 7; ++i) CHECK(it->Next().images.shape() == Shape{4, 2});
  CHECK(it->epoch() == 3);
}

TEST_CASE("shuffling visits every example once per epoch, in a new order each epoch, reproducibly") {
  auto make = [](uint64_t seed) {
    auto it = BatchIterator::Create(Numbered(100), {.batch_size = 7, .shuffle = true, .seed = seed});
    REQUIRE(it.ok());
    return std::move(it).value();
  };
  BatchIterator a = make(11), b = make(11), c = make(12);
  std::vector<int64_t> e0 = EpochIds(a), e1 = EpochIds(a);
  CHECK(std::set<int64_t>(e0.begin(), e0.end()).size() == 100);
  CHECK(std::set<int64_t>(e1.begin(), e1.end()).size() == 100);
  CHECK(e0 != e1);
  std::vector<int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  CHECK(e0 != sorted);
  CHECK(EpochIds(b) == e0);  // same seed, same order
  CHECK(EpochIds(c) != e0);  // another seed, another order
}

TEST_CASE("the shards of n workers are disjoint and cover the dataset") {
  std::set<int64_t> all;
  int64_t total = 0;
  for (int k = 0; k < 3; ++k) {
    auto it = BatchIterator::Create(Numbered(100), {.batch_size = 8, .shuffle = true, .seed = 5, .shard_index = k, .num_shards = 3});
    REQUIRE(it.ok());
    std::vector<int64_t> ids = EpochIds(*it);
    total += static_cast<int64_t>(ids.size());
    all.insert(ids.begin(), ids.end());
  }
  CHECK(total == 100);
  CHECK(all.size() == 100);
}

TEST_CASE("a bad batch size or shard is refused naming the value") {
  CHECK_THAT(BatchIterator::Create(Numbered(10), {.batch_size = 0}).status().message(), Catch::Contains("batch size 0"));
  CHECK_THAT(BatchIterator::Create(Numbered(10), {.batch_size = 2, .shard_index = 3, .num_shards = 3}).status().message(),
             Catch::Contains("shard 3 of 3"));
  CHECK_THAT(BatchIterator::Create(Numbered(2), {.batch_size = 1, .num_shards = 3}).status().message(),
             Catch::Contains("cannot be split into 3 shards"));
}

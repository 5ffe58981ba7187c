#include "net/table_keys.h"

#include <algorithm>

#include <catch2/catch.hpp>

#include "core/key_shard.h"

namespace flowps {

TEST_CASE("a batch's ids are asked of each shard once, each shard getting only the keys it holds") {
  const std::vector<int64_t> ids{7, -3, 7, 1LL << 50, 12, -3, 7, 99};
  TableKeys keys(ids.data(), static_cast<int64_t>(ids.size()), 3);
  CHECK(keys.num_ids() == 8);
  CHECK(keys.num_distinct() == 5);
  std::vector<int64_t> all;
  for (int s = 0; s < 3; ++s)
    for (int64_t k : keys.shard_keys(s).ToVector<int64_t>()) {
      CHECK(TableShardOf(k, 3) == s);
      all.push_back(k);
    }
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<int64_t>{-3, 7, 12, 99, 1LL << 50});
}

TEST_CASE("gathered rows put each shard's row at every position of its id") {
  const std::vector<int64_t> ids{5, 6, 5, 8};
  TableKeys keys(ids.data(), 4, 2);
  // Shard s answers row (key, key * 10) for each of its keys.
  std::vector<std::vector<float>> answers(2);
  for (int s = 0; s < 2; ++s)
    for (int64_t k : keys.shard_keys(s).ToVector<int64_t>()) {
      answers[s].push_back(static_cast<float>(k));
      answers[s].push_back(static_cast<float>(k * 10));
    }
  std::vector<float> out(8);
  keys.Gather({answers[0].data(), answers[1].data()}, 2, out.data());
  CHECK(out == std::vector<float>{5, 50, 6, 60, 5, 50, 8, 80});
}

TEST_CASE("the gradients of a repeated id are summed into one gradient for its key") {
  const std::vector<int64_t> ids{4, 4, 9, 4};
  TableKeys keys(ids.data(), 4, 1);
  REQUIRE(keys.shard_keys(0).ToVector<int64_t>() == std::vector<int64_t>{4, 9});
  const std::vector<float> grads{1, 2, 10, 20, 100, 200, 1000, 2000};
  std::vector<std::vector<float>> sums = keys.SumGradients(grads.data(), 2);
  CHECK(sums[0] == std::vector<float>{1011, 2022, 100, 200});
}

TEST_CASE("an empty batch asks no shard for anything") {
  TableKeys keys(nullptr, 0, 4);
  CHECK(keys.num_distinct() == 0);
  for (int s = 0; s < 4; ++s) CHECK(keys.num_shard_keys(s) == 0);
}

}  // namespace flowps

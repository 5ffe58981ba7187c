#include "ps/embedding_table.h"

#include <cmath>
#include <map>
#include <numeric>

#include <catch2/catch.hpp>

namespace flowps::ps {
namespace {

EmbeddingTableSpec Spec(int64_t dim, OptimizerKind kind = OptimizerKind::kSgd, double lr = 0.5) {
  EmbeddingTableSpec s;
  s.name = "emb";
  s.dim = dim;
  s.initializer.kind = kernels::InitializerKind::kUniform;
  s.initializer.min = -1;
  s.initializer.max = 1;
  s.initializer.seed = 7;
  s.optimizer.kind = kind;
  s.optimizer.learning_rate = lr;
  return s;
}

std::vector<float> Lookup(EmbeddingTable& t, std::vector<int64_t> keys, int64_t step) {
  std::vector<float> out(keys.size() * static_cast<size_t>(t.spec().dim));
  t.Lookup(keys.data(), static_cast<int64_t>(keys.size()), step, out.data());
  return out;
}

Status Push(EmbeddingTable& t, std::vector<int64_t> keys, std::vector<float> grads, int64_t step) {
  return t.ApplyGradients(keys.data(), grads.data(), static_cast<int64_t>(keys.size()), step);
}

bool Has(const EmbeddingTable& t, int64_t key) {
  std::vector<float> row;
  return t.ReadRow(key, &row);
}

}  // namespace

TEST_CASE("any int64 key gets a row on first lookup, from the initializer for that key") {
  EmbeddingTable t(Spec(4));
  const int64_t big = int64_t{1} << 62, negative = -123456789012LL;
  std::vector<float> a = Lookup(t, {big, negative, 5}, 1);
  CHECK(t.Stats().rows == 3);
  CHECK(t.Stats().admitted == 3);
  for (float v : a) CHECK((v >= -1 && v <= 1));
  CHECK(std::vector<float>(a.begin(), a.begin() + 4) != std::vector<float>(a.begin() + 4, a.begin() + 8));
  // Another table with the same initializer starts the key at the same row.
  EmbeddingTable other(Spec(4));
  CHECK(Lookup(other, {5}, 1) == std::vector<float>(a.begin() + 8, a.end()));
  // And a second lookup reads the same row back.
  CHECK(Lookup(t, {negative}, 2) == std::vector<float>(a.begin() + 4, a.begin() + 8));
}

TEST_CASE("a pushed gradient changes only its own rows (lazy sgd)") {
  EmbeddingTable t(Spec(2, OptimizerKind::kSgd, 0.5));
  std::vector<float> before = Lookup(t, {10, 20}, 1);
  REQUIRE(Push(t, {20}, {1.0f, -2.0f}, 1).ok());
  std::vector<float> after = Lookup(t, {10, 20}, 2);
  CHECK(after[0] == before[0]);
  CHECK(after[1] == before[1]);
  CHECK(after[2] == Approx(before[2] - 0.5f));
  CHECK(after[3] == Approx(before[3] + 1.0f));
  CHECK(t.Stats().updates == 1);
}

TEST_CASE("gradients of a key repeated in one push are summed into one update") {
  EmbeddingTable t(Spec(1, OptimizerKind::kAdagrad, 1.0));
  std::vector<float> before = Lookup(t, {3}, 1);
  REQUIRE(Push(t, {3, 3}, {1.0f, 2.0f}, 1).ok());
  std::vector<float> row;
  REQUIRE(t.ReadRow(3, &row));
  CHECK(row[1] == Approx(0.1f + 9.0f));  // one accumulation of g = 3
  CHECK(row[0] == Approx(before[0] - 3.0f / std::sqrt(9.1f)));
}

TEST_CASE("a non-finite gradient is refused and changes nothing") {
  EmbeddingTable t(Spec(2));
  std::vector<float> before = Lookup(t, {1, 2}, 1);
  Status s = Push(t, {1, 2}, {0.5f, 0.5f, NAN, 0.0f}, 1);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("key 2") != std::string::npos);
  CHECK(Lookup(t, {1, 2}, 2) == before);
}

TEST_CASE("a key is admitted only on its min_count-th lookup; before, reads give the initial value and pushes are dropped") {
  EmbeddingTableSpec spec = Spec(3);
  spec.min_count = 3;
  EmbeddingTable t(spec);
  std::vector<float> first = Lookup(t, {42}, 1);
  REQUIRE(Push(t, {42}, {1, 1, 1}, 1).ok());
  CHECK(!Has(t, 42));
  CHECK(Lookup(t, {42}, 2) == first);  // unchanged: the push was dropped
  CHECK(t.Stats().pending_lookups == 2);
  CHECK(t.Stats().dropped_updates == 1);
  CHECK(t.Stats().rows == 0);
  // The third lookup admits it, starting at the value it read before.
  CHECK(Lookup(t, {42}, 3) == first);
  CHECK(Has(t, 42));
  CHECK(t.Stats().admitted == 1);
  REQUIRE(Push(t, {42}, {1, 1, 1}, 3).ok());
  CHECK(Lookup(t, {42}, 4) != first);
}

TEST_CASE("a min_count of zeros-initialised table reads zeros for a key not yet admitted") {
  EmbeddingTableSpec spec = Spec(2);
  spec.initializer = {};
  spec.min_count = 2;
  EmbeddingTable t(spec);
  CHECK(Lookup(t, {9}, 1) == std::vector<float>{0, 0});
  CHECK(!Has(t, 9));
}

TEST_CASE("rows untouched for more than ttl_steps are evicted, counted and listed") {
  EmbeddingTableSpec spec = Spec(1);
  spec.ttl_steps = 3;
  EmbeddingTable t(spec);
  Lookup(t, {1, 2, 3}, 5);
  REQUIRE(Push(t, {2}, {1.0f}, 6).ok());  // a push touches too
  Lookup(t, {3}, 7);
  Lookup(t, {99}, 8);  // 8 - 5 = 3: not yet
  CHECK(Has(t, 1));
  Lookup(t, {99}, 9);  // 9 - 5 > 3: key 1 goes
  CHECK(!Has(t, 1));
  CHECK(Has(t, 2));
  CHECK(t.EvictExpired(10) == 1);  // key 2, touched at 6
  CHECK(!Has(t, 2));
  CHECK(Has(t, 3));
  CHECK(t.Stats().evicted_ttl == 2);
  CHECK(t.EvictedKeys() == std::vector<int64_t>{1, 2});
  // An evicted key comes back fresh from the initializer.
  EmbeddingTable fresh(spec);
  CHECK(Lookup(t, {2}, 11) == Lookup(fresh, {2}, 11));
}

TEST_CASE("max_rows evicts the least recently used row, never a recently used one") {
  EmbeddingTableSpec spec = Spec(2);
  spec.max_rows = 3;
  EmbeddingTable t(spec);
  Lookup(t, {1}, 1);
  Lookup(t, {2}, 2);
  Lookup(t, {3}, 3);
  Lookup(t, {1}, 4);  // 1 is used again: 2 is now the least recently used
  Lookup(t, {4}, 5);
  CHECK(t.Stats().rows == 3);
  CHECK(!Has(t, 2));
  CHECK(Has(t, 1));
  CHECK(Has(t, 3));
  CHECK(Has(t, 4));
  Lookup(t, {5, 6}, 6);
  CHECK(t.EvictedKeys() == std::vector<int64_t>{2, 3, 1});
  CHECK(t.Stats().evicted_capacity == 3);
}

TEST_CASE("after many inserts and evictions every surviving row is still found with its own value") {
  EmbeddingTableSpec spec = Spec(2, OptimizerKind::kSgd, 1.0);
  spec.max_rows = 5000;
  EmbeddingTable t(spec);
  std::map<int64_t, float> pushed;  // key -> sum of its gradients
  for (int64_t step = 1; step <= 40; ++step) {
    std::vector<int64_t> keys;
    for (int64_t i = 0; i < 500; ++i) keys.push_back((step * 7919 + i * 104729) % 20000 - 10000);
    std::vector<float> vals = Lookup(t, keys, step);
    std::vector<float> grads(keys.size() * 2, 0.0f);
    for (size_t i = 0; i < keys.size(); ++i) grads[2 * i] = 0.01f * static_cast<float>(i % 7);
    REQUIRE(t.ApplyGradients(keys.data(), grads.data(), static_cast<int64_t>(keys.size()), step).ok());
  }
  EmbeddingTableStats s = t.Stats();
  CHECK(s.rows == 5000);
  CHECK(s.evicted_capacity == s.admitted - 5000);
  // Every row found is where its key says: element 1 never got a gradient and
  // still holds the key's initial value.
  EmbeddingTable fresh(spec);
  int64_t found = 0;
  for (int64_t key = -10000; key < 10000; ++key) {
    std::vector<float> row;
    if (!t.ReadRow(key, &row)) continue;
    ++found;
    std::vector<float> init(2);
    fresh.Lookup(&key, 1, 1, init.data());
    REQUIRE(row[1] == init[1]);
  }
  CHECK(found == 5000);
}

TEST_CASE("hot keys are the keys looked up most in the current window") {
  EmbeddingTableSpec spec = Spec(1);
  spec.hot_window_steps = 10;
  EmbeddingTable t(spec);
  for (int i = 0; i < 5; ++i) Lookup(t, {100}, 3);  // window 0: 100 is hot
  Lookup(t, {7, 7, 7, 8, 8, 9}, 11);                // window 1
  Lookup(t, {8, 8}, 12);
  std::vector<HotKey> hot = t.HotKeys(2);
  REQUIRE(hot.size() == 2);
  CHECK(hot[0].key == 8);
  CHECK(hot[0].lookups == 4);
  CHECK(hot[1].key == 7);
  CHECK(hot[1].lookups == 3);
}

TEST_CASE("an incremental checkpoint holds only the rows changed since the last one, and the evicted keys") {
  EmbeddingTableSpec spec = Spec(2);
  spec.max_rows = 4;
  EmbeddingTable t(spec);
  Lookup(t, {1, 2, 3}, 1);
  TableRows full = t.Checkpoint(false);
  CHECK(full.keys.size() == 3);
  CHECK(full.stride == 2);
  REQUIRE(Push(t, {2}, {1, 1}, 2).ok());
  Lookup(t, {4, 5}, 3);  // 5 evicts 1 (least recently used)
  TableRows inc = t.Checkpoint(true);
  std::vector<int64_t> keys = inc.keys;
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<int64_t>{2, 4, 5});
  CHECK(inc.deleted_keys == std::vector<int64_t>{1});
  TableRows nothing = t.Checkpoint(true);
  CHECK(nothing.keys.empty());
  CHECK(nothing.deleted_keys.empty());
}

TEST_CASE("a full checkpoint plus its increments restores every row, slots included") {
  EmbeddingTableSpec spec = Spec(3, OptimizerKind::kAdam, 0.1);
  spec.ttl_steps = 5;
  EmbeddingTable t(spec);
  Lookup(t, {1, 2, 3, 4}, 1);
  REQUIRE(Push(t, {1, 2}, {1, 2, 3, 4, 5, 6}, 1).ok());
  std::vector<TableRows> chain{t.Checkpoint(false)};
  Lookup(t, {2, 5}, 4);
  REQUIRE(Push(t, {2, 5}, {1, 1, 1, -1, -1, -1}, 4).ok());
  chain.push_back(t.Checkpoint(true));
  Lookup(t, {2, 6}, 8);  // 1, 3 and 4 (last touched at 1) expire
  chain.push_back(t.Checkpoint(true));
  CHECK(chain[2].deleted_keys == std::vector<int64_t>{1, 3, 4});

  EmbeddingTable restored(spec);
  for (const TableRows& rows : chain) REQUIRE(restored.Load(rows, [](int64_t) { return true; }).ok());
  CHECK(restored.Stats().rows == t.Stats().rows);
  for (int64_t key : {2, 5, 6}) {
    std::vector<float> a, b;
    REQUIRE(t.ReadRow(key, &a));
    REQUIRE(restored.ReadRow(key, &b));
    CHECK(a == b);
    CHECK(a.size() == 9);  // value, m, v
  }
  for (int64_t key : {1, 3, 4}) CHECK(!Has(restored, key));
}

TEST_CASE("rows checkpointed by 2 shards restore into 3 shards, each taking the keys it owns") {
  EmbeddingTableSpec spec = Spec(2, OptimizerKind::kAdagrad, 0.1);
  std::vector<std::unique_ptr<EmbeddingTable>> two;
  for (int s = 0; s < 2; ++s) two.push_back(std::make_unique<EmbeddingTable>(spec));
  std::vector<int64_t> keys(200);
  std::iota(keys.begin(), keys.end(), -100);
  for (int64_t key : keys) {
    EmbeddingTable& shard = *two[TableShardOf(key, 2)];
    std::vector<float> v(2), g{0.5f, static_cast<float>(key) * 0.01f};
    shard.Lookup(&key, 1, 1, v.data());
    REQUIRE(shard.ApplyGradients(&key, g.data(), 1, 1).ok());
  }
  std::vector<TableRows> files{two[0]->Checkpoint(false), two[1]->Checkpoint(false)};

  std::vector<std::unique_ptr<EmbeddingTable>> three;
  for (int s = 0; s < 3; ++s) {
    three.push_back(std::make_unique<EmbeddingTable>(spec));
    for (const TableRows& f : files)
      REQUIRE(three[s]->Load(f, [s](int64_t key) { return TableShardOf(key, 3) == s; }).ok());
  }
  int64_t total = 0;
  for (int s = 0; s < 3; ++s) {
    total += three[s]->Stats().rows;
    CHECK(three[s]->Stats().rows > 40);  // the hash spreads the keys
  }
  CHECK(total == 200);
  for (int64_t key : keys) {
    std::vector<float> a, b;
    REQUIRE(two[TableShardOf(key, 2)]->ReadRow(key, &a));
    REQUIRE(three[TableShardOf(key, 3)]->ReadRow(key, &b));
    CHECK(a == b);
  }
}

TEST_CASE("rows of another optimizer's stride are refused on load") {
  EmbeddingTable sgd(Spec(2, OptimizerKind::kSgd));
  EmbeddingTable adam(Spec(2, OptimizerKind::kAdam));
  Lookup(sgd, {1}, 1);
  Status s = adam.Load(sgd.Checkpoint(false), [](int64_t) { return true; });
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("'emb'") != std::string::npos);
  CHECK(adam.Stats().rows == 0);
}

TEST_CASE("a bad table spec is refused naming the table and the field") {
  EmbeddingTableSpec s = Spec(0);
  CHECK(s.Validate().message().find("'emb': dim") != std::string::npos);
  s = Spec(2);
  s.min_count = 0;
  CHECK(s.Validate().message().find("min_count") != std::string::npos);
  s = Spec(2, OptimizerKind::kFtrl);
  s.optimizer.l1 = -1;
  CHECK(s.Validate().message().find("l1") != std::string::npos);
}

TEST_CASE("the table's bookkeeping is a small fixed overhead over its row and slot bytes") {
  EmbeddingTable t(Spec(16, OptimizerKind::kAdagrad));
  std::vector<int64_t> keys(100000);
  std::iota(keys.begin(), keys.end(), 1000000);
  std::vector<float> out(keys.size() * 16);
  t.Lookup(keys.data(), static_cast<int64_t>(keys.size()), 1, out.data());
  EmbeddingTableStats s = t.Stats();
  CHECK(s.row_bytes == 100000 * 16 * 2 * 4);
  CHECK(s.memory_bytes <= s.row_bytes * 3 / 2);
}

}  // namespace flowps::ps

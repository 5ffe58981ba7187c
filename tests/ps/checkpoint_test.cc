#include "ps/checkpoint.h"

#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "ps/parameter_shard.h"
#include "ps/table_checkpoint.h"
#include "ps_test_util.h"

namespace flowps::ps {
using namespace testing;
namespace fs = std::filesystem;
namespace {

// A fresh directory under the build's temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "flowps-ckpt-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

ShardConfig AdamShard(const std::string& dir, int shard, int num_shards) {
  ShardConfig c;
  c.shard = shard;
  c.num_shards = num_shards;
  c.mode = TrainingMode::kSync;
  c.sync = {1, 1};
  c.optimizer.kind = OptimizerKind::kAdam;
  c.optimizer.learning_rate = 0.1;
  c.checkpoint_dir = dir;
  c.keep_checkpoints = 2;
  return c;
}

std::unique_ptr<ParameterShard> OpenOrDie(const ShardConfig& c) {
  StatusOr<std::unique_ptr<ParameterShard>> s = ParameterShard::Open(c, nullptr, NullLogger());
  REQUIRE(s.ok());
  return std::move(*s);
}

void Step(ParameterShard& shard, float g) {
  const int64_t step = shard.rule().global_step();
  REQUIRE(OutcomeOf(PushNow(shard.rule(), 0, step, {Dense("w", {2}, {g, -g})})) == PushOutcome::kApplied);
}

}  // namespace

TEST_CASE("a checkpoint restores variables, optimizer slots and the global step") {
  TempDir dir;
  std::vector<float> saved_value, saved_m;
  {
    auto shard = OpenOrDie(AdamShard(dir.path(), 0, 1));
    CreateOrDie(shard->store(), ZerosSpec("w", {2}));
    Step(*shard, 1);
    Step(*shard, 2);
    REQUIRE(shard->SaveCheckpoint(2).ok());
    REQUIRE(shard->CommitCheckpoint(2).ok());
    saved_value = Values(shard->store(), "w");
    saved_m = shard->store().Describe("w").value().slots[0].ToVector<float>();
    Step(*shard, 3);  // after the checkpoint: lost on restore
  }
  auto restarted = OpenOrDie(AdamShard(dir.path(), 0, 1));
  CHECK(restarted->restored_checkpoint() == std::optional<int64_t>(2));
  CHECK(restarted->rule().global_step() == 2);
  CHECK(Values(restarted->store(), "w") == saved_value);
  CHECK(restarted->store().Describe("w").value().slots[0].ToVector<float>() == saved_m);
  // The chief's create after a restart keeps the restored value.
  bool created = true;
  REQUIRE(restarted->store().Create(ZerosSpec("w", {2}), &created).ok());
  CHECK(!created);
  CHECK(Values(restarted->store(), "w") == saved_value);
}

TEST_CASE("a checkpoint counts only once every shard has written it and the MANIFEST is there") {
  TempDir dir;
  auto s0 = OpenOrDie(AdamShard(dir.path(), 0, 2));
  auto s1 = OpenOrDie(AdamShard(dir.path(), 1, 2));
  for (auto* s : {s0.get(), s1.get()}) {
    CreateOrDie(s->store(), ZerosSpec("w", {2}));
    Step(*s, 1);
  }
  REQUIRE(s0->SaveCheckpoint(1).ok());
  REQUIRE(s1->SaveCheckpoint(1).ok());
  REQUIRE(s0->CommitCheckpoint(1).ok());
  for (auto* s : {s0.get(), s1.get()}) Step(*s, 5);
  // Checkpoint 2: only shard 0 writes, so the commit is refused, and a restart restores 1.
  REQUIRE(s0->SaveCheckpoint(2).ok());
  Status commit = s0->CommitCheckpoint(2);
  CHECK(commit.code() == Code::kFailedPrecondition);
  CHECK(commit.message().find("shard 1") != std::string::npos);
  CHECK(!fs::exists(CheckpointStepDir(dir.path(), 2) + "/MANIFEST"));
  CHECK(CompleteCheckpoints(dir.path()) == std::vector<int64_t>{1});
  CHECK(s1->CommitCheckpoint(1).code() == Code::kFailedPrecondition);  // only shard 0 commits
  auto restarted = OpenOrDie(AdamShard(dir.path(), 1, 2));
  CHECK(restarted->restored_checkpoint() == std::optional<int64_t>(1));
  CHECK(restarted->rule().global_step() == 1);
}

TEST_CASE("a corrupt shard file is detected and never restored; the previous complete checkpoint is") {
  TempDir dir;
  {
    auto shard = OpenOrDie(AdamShard(dir.path(), 0, 1));
    CreateOrDie(shard->store(), ZerosSpec("w", {2}));
    Step(*shard, 1);
    REQUIRE(shard->SaveCheckpoint(1).ok());
    REQUIRE(shard->CommitCheckpoint(1).ok());
    Step(*shard, 1);
    REQUIRE(shard->SaveCheckpoint(2).ok());
    REQUIRE(shard->CommitCheckpoint(2).ok());
  }
  const std::string path = CheckpointShardPath(dir.path(), 2, 0);
  SECTION("a flipped byte") {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x7f');
  }
  SECTION("a truncated file") { fs::resize_file(path, fs::file_size(path) - 7); }
  StatusOr<ShardSnapshot> direct = ReadShardCheckpoint(path, 0, 1);
  CHECK(direct.status().code() == Code::kFailedPrecondition);
  CHECK(direct.status().message().find("corrupt") != std::string::npos);
  auto restarted = OpenOrDie(AdamShard(dir.path(), 0, 1));
  CHECK(restarted->restored_checkpoint() == std::optional<int64_t>(1));
  CHECK(restarted->rule().global_step() == 1);
}

TEST_CASE("old checkpoints are pruned to the configured number") {
  TempDir dir;
  auto shard = OpenOrDie(AdamShard(dir.path(), 0, 1));  // keep 2
  CreateOrDie(shard->store(), ZerosSpec("w", {2}));
  for (int64_t n = 1; n <= 4; ++n) {
    Step(*shard, 1);
    REQUIRE(shard->SaveCheckpoint(n * 10).ok());
    REQUIRE(shard->CommitCheckpoint(n * 10).ok());
  }
  CHECK(CompleteCheckpoints(dir.path()) == std::vector<int64_t>{40, 30});
  CHECK(!fs::exists(CheckpointStepDir(dir.path(), 10)));
  CHECK(!fs::exists(CheckpointStepDir(dir.path(), 20)));
}

TEST_CASE("a shard with no checkpoint directory content starts fresh") {
  TempDir dir;
  auto shard = OpenOrDie(AdamShard(dir.path(), 0, 1));
  CHECK(!shard->restored_checkpoint().has_value());
  CHECK(shard->rule().global_step() == 0);
}

TEST_CASE("a shard file whose header claims a huge tensor is corrupt, and nothing that large is allocated") {
  // A valid checksum over a header of [2^40, 2^40] (what fuzz_checkpoint feeds).
  std::string payload = "FLOWPSCK";
  auto pod = [&](auto v) { payload.append(reinterpret_cast<const char*>(&v), sizeof v); };
  pod(uint32_t{1});                  // version
  pod(uint32_t{0});                  // shard
  pod(uint32_t{1});                  // of 1
  pod(int64_t{5});                   // checkpoint step
  pod(int64_t{7});                   // global step
  pod(uint32_t{1});                  // variables
  pod(uint32_t{1});                  // name "w"
  payload += "w";
  pod(uint32_t{2});                  // rank
  pod(int64_t{1} << 40);
  pod(int64_t{1} << 40);
  pod(int64_t{0});                   // rows [0, 2^40)
  pod(int64_t{1} << 40);
  pod(uint32_t{1});                  // one tensor
  pod(uint32_t{0});                  // slot name ""
  pod(uint64_t{16});                 // bytes
  payload += std::string(16, '\0');
  std::string file = payload;
  const uint64_t length = payload.size();
  const uint32_t crc = static_cast<uint32_t>(
      crc32_z(crc32_z(0, nullptr, 0), reinterpret_cast<const Bytef*>(payload.data()), payload.size()));
  file.append(reinterpret_cast<const char*>(&length), sizeof length);
  file.append(reinterpret_cast<const char*>(&crc), sizeof crc);
  file += "FLOWPSND";
  TempDir dir;
  const std::string path = dir.path() + "/shard-0.ckpt";
  std::ofstream(path, std::ios::binary) << file;
  auto snapshot = ReadShardCheckpoint(path, 0, 1);
  REQUIRE(!snapshot.ok());
  CHECK_THAT(snapshot.status().message(), Catch::Contains("corrupt checkpoint: variable 'w' has a tensor of the wrong size"));
}

}  // namespace flowps::ps

// ---- embedding tables ---------------------------------------------------------

namespace flowps::ps {
namespace {

EmbeddingTableSpec AdagradTable() {
  EmbeddingTableSpec s;
  s.name = "ids";
  s.dim = 3;
  s.initializer.kind = kernels::InitializerKind::kNormal;
  s.initializer.seed = 3;
  s.optimizer.kind = OptimizerKind::kAdagrad;
  s.optimizer.learning_rate = 0.1;
  s.ttl_steps = 4;
  return s;
}

// Looks up and pushes `keys` at `step` on whichever of `shards` owns each key.
void TrainStep(std::vector<std::unique_ptr<EmbeddingTable>>& shards, const std::vector<int64_t>& keys,
               int64_t step) {
  const int n = static_cast<int>(shards.size());
  for (int64_t key : keys) {
    EmbeddingTable& t = *shards[TableShardOf(key, n)];
    std::vector<float> row(3), grad{0.1f * static_cast<float>(key % 5), -0.2f, static_cast<float>(step) * 0.01f};
    t.Lookup(&key, 1, step, row.data());
    REQUIRE(t.ApplyGradients(&key, grad.data(), 1, step).ok());
  }
  for (auto& t : shards) t->EvictExpired(step);  // as the ps does when its step advances
}

std::vector<std::unique_ptr<EmbeddingTable>> Shards(int n) {
  std::vector<std::unique_ptr<EmbeddingTable>> shards;
  for (int s = 0; s < n; ++s) shards.push_back(std::make_unique<EmbeddingTable>(AdagradTable()));
  return shards;
}

void Save(std::vector<std::unique_ptr<EmbeddingTable>>& shards, const std::string& dir, int64_t step,
          bool incremental) {
  const int n = static_cast<int>(shards.size());
  for (int s = 0; s < n; ++s)
    REQUIRE(WriteTableCheckpoint(dir, "ids", step, incremental, s, n, shards[s]->Checkpoint(incremental)).ok());
}

}  // namespace

TEST_CASE("a table restored from a full checkpoint and two increments into 3 shards equals the 2 it came from") {
  TempDir dir;
  auto two = Shards(2);
  std::vector<int64_t> early{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -11, 1LL << 40};
  TrainStep(two, early, 1);
  Save(two, dir.path(), 1, false);
  TrainStep(two, {2, 3, 100, 101}, 3);
  Save(two, dir.path(), 3, true);
  TrainStep(two, {2, 3, 200}, 6);  // keys last touched at 1 expire (6 - 1 > 4)
  Save(two, dir.path(), 6, true);
  // The increment is small: only what changed since step 3.
  REQUIRE(ReadTableCheckpoint(TableCheckpointPath(dir.path(), "ids", 6, true, 0, 2)).ok());
  int64_t inc_rows = 0;
  for (int s = 0; s < 2; ++s)
    inc_rows += ReadTableCheckpoint(TableCheckpointPath(dir.path(), "ids", 6, true, s, 2))->keys.size();
  CHECK(inc_rows == 3);

  auto three = Shards(3);
  for (int s = 0; s < 3; ++s) {
    StatusOr<int64_t> step = RestoreTableShard(dir.path(), s, 3, three[s].get());
    INFO(step.status().ToString());
    REQUIRE(step.ok());
    CHECK(*step == 6);
  }
  int64_t rows = 0;
  for (auto& t : three) rows += t->Stats().rows;
  CHECK(rows == two[0]->Stats().rows + two[1]->Stats().rows);
  CHECK(rows == 5);  // 2, 3, 100, 101, 200 and none of the expired
  for (int64_t key : {2LL, 3LL, 100LL, 101LL, 200LL}) {
    std::vector<float> a, b;
    REQUIRE(two[TableShardOf(key, 2)]->ReadRow(key, &a));
    REQUIRE(three[TableShardOf(key, 3)]->ReadRow(key, &b));
    CHECK(a == b);
  }
  for (int64_t key : early)
    if (key != 2 && key != 3) CHECK(!three[TableShardOf(key, 3)]->ReadRow(key, nullptr));
}

TEST_CASE("an incomplete increment ends the restore chain; the steps before it are restored") {
  TempDir dir;
  auto two = Shards(2);
  TrainStep(two, {1, 2, 3}, 1);
  Save(two, dir.path(), 1, false);
  TrainStep(two, {4}, 2);
  Save(two, dir.path(), 2, true);
  TrainStep(two, {5, 6, 7, 8}, 3);
  Save(two, dir.path(), 3, true);
  TrainStep(two, {9}, 4);
  Save(two, dir.path(), 4, true);
  fs::remove(TableCheckpointPath(dir.path(), "ids", 3, true, 1, 2));  // a shard died writing step 3
  std::vector<TableCheckpointStep> chain = TableRestoreChain(dir.path(), "ids");
  REQUIRE(chain.size() == 2);
  CHECK(chain[0].step == 1);
  CHECK(!chain[0].incremental);
  CHECK(chain[1].step == 2);
  auto one = Shards(1);
  StatusOr<int64_t> restored = RestoreTableShard(dir.path(), 0, 1, one[0].get());
  INFO(restored.status().ToString());
  REQUIRE(restored.ok());
  CHECK(*restored == 2);
  CHECK(one[0]->Stats().rows == 4);
}

TEST_CASE("a newer full checkpoint starts the chain afresh; no checkpoint restores nothing") {
  TempDir dir;
  auto one = Shards(1);
  CHECK(*RestoreTableShard(dir.path(), 0, 1, one[0].get()) == -1);
  TrainStep(one, {1, 2}, 1);
  Save(one, dir.path(), 1, false);
  Save(one, dir.path(), 2, true);
  Save(one, dir.path(), 5, false);
  Save(one, dir.path(), 6, true);
  std::vector<TableCheckpointStep> chain = TableRestoreChain(dir.path(), "ids");
  REQUIRE(chain.size() == 2);
  CHECK(chain[0].step == 5);
  CHECK(chain[1].step == 6);
}

TEST_CASE("a corrupt table file fails the restore naming the file") {
  TempDir dir;
  auto one = Shards(1);
  TrainStep(one, {1, 2}, 1);
  Save(one, dir.path(), 1, false);
  const std::string path = TableCheckpointPath(dir.path(), "ids", 1, false, 0, 1);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(30);
    f.put('\x7f');
  }
  auto fresh = Shards(1);
  StatusOr<int64_t> r = RestoreTableShard(dir.path(), 0, 1, fresh[0].get());
  REQUIRE(!r.ok());
  CHECK(r.status().message().find(path) != std::string::npos);
  CHECK(r.status().message().find("checksum") != std::string::npos);
  CHECK(fresh[0]->Stats().rows == 0);
}

}  // namespace flowps::ps

namespace flowps::ps {
using namespace testing;

TEST_CASE("a checkpoint round that failed on one shard leaves nothing once the next round writes") {
  TempDir dir;
  auto shard0 = OpenOrDie(AdamShard(dir.path(), 0, 2));
  auto shard1 = OpenOrDie(AdamShard(dir.path(), 1, 2));
  CreateOrDie(shard0->store(), ZerosSpec("w", {2}));
  CreateOrDie(shard1->store(), ZerosSpec("w", {2}));
  // Round 10: shard 0 writes its file, shard 1's write fails (say, a full disk): no MANIFEST.
  REQUIRE(shard0->SaveCheckpoint(10).ok());
  CHECK_FALSE(shard0->CommitCheckpoint(10).ok());
  CHECK(CompleteCheckpoints(dir.path()).empty());
  // Round 20 succeeds on both: round 10's file and folder are gone.
  REQUIRE(shard0->SaveCheckpoint(20).ok());
  CHECK(!fs::exists(CheckpointStepDir(dir.path(), 10)));
  REQUIRE(shard1->SaveCheckpoint(20).ok());
  REQUIRE(shard0->CommitCheckpoint(20).ok());
  CHECK(CompleteCheckpoints(dir.path()) == std::vector<int64_t>{20});
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);
}

}  // namespace flowps::ps

// ---- embedding tables in the job's checkpoints (ParameterShard) ----------------

namespace flowps::ps {
using namespace testing;
namespace {

std::unique_ptr<ParameterShard> ShardWithTable(const std::string& dir, int shard, int num_shards,
                                               int table_full_every) {
  ShardConfig c = AdamShard(dir, shard, num_shards);
  c.keep_checkpoints = 5;
  c.table_full_every = table_full_every;
  auto s = OpenOrDie(c);
  bool created = false;  // false after a restore
  REQUIRE(s->store().Create(ZerosSpec("w", {2}), &created).ok());
  REQUIRE(s->tables().Create({AdagradTable()}).ok());
  return s;
}

std::shared_ptr<EmbeddingTable> Ids(ParameterShard& s) { return s.tables().Find("ids").value(); }

// Trains `keys` at `step` on the shard of `shards` that owns each key.
void TrainShards(std::vector<std::unique_ptr<ParameterShard>>& shards, const std::vector<int64_t>& keys,
                 int64_t step) {
  const int n = static_cast<int>(shards.size());
  for (int64_t key : keys) {
    std::shared_ptr<EmbeddingTable> t = Ids(*shards[TableShardOf(key, n)]);
    std::vector<float> row(3), grad{0.1f * static_cast<float>(key % 5), -0.2f, static_cast<float>(step) * 0.01f};
    t->Lookup(&key, 1, step, row.data());
    REQUIRE(t->ApplyGradients(&key, grad.data(), 1, step).ok());
  }
  for (auto& s : shards) Ids(*s)->EvictExpired(step);
}

void SaveAndCommit(std::vector<std::unique_ptr<ParameterShard>>& shards, int64_t step) {
  for (auto& s : shards) REQUIRE(s->SaveCheckpoint(step).ok());
  REQUIRE(shards[0]->CommitCheckpoint(step).ok());
}

// Every row of `tables` (shards of one table) by key.
std::map<int64_t, std::vector<float>> Rows(const std::vector<std::shared_ptr<EmbeddingTable>>& tables) {
  std::map<int64_t, std::vector<float>> rows;
  for (const auto& t : tables) {
    const TableRows all = t->Checkpoint(false);
    for (size_t i = 0; i < all.keys.size(); ++i)
      rows[all.keys[i]].assign(all.values.begin() + static_cast<int64_t>(i * all.stride),
                               all.values.begin() + static_cast<int64_t>((i + 1) * all.stride));
  }
  return rows;
}

// The table of checkpoint `step` in `dir` restored into `num_shards` shards.
std::vector<std::shared_ptr<EmbeddingTable>> RestoredInto(const std::string& dir, int64_t step, int num_shards) {
  std::vector<std::shared_ptr<EmbeddingTable>> out;
  for (int s = 0; s < num_shards; ++s) {
    auto t = std::make_shared<EmbeddingTable>(AdagradTable());
    StatusOr<bool> found = RestoreTableAtStep(dir, step, s, num_shards, t.get());
    INFO(found.status().ToString());
    REQUIRE(found.ok());
    CHECK(*found);
    out.push_back(t);
  }
  return out;
}

}  // namespace

TEST_CASE("a job checkpoint's tables: a full file and two increments restore what a full checkpoint holds") {
  TempDir chain_dir, full_dir;
  std::vector<std::unique_ptr<ParameterShard>> two;
  for (int s = 0; s < 2; ++s) two.push_back(ShardWithTable(chain_dir.path(), s, 2, /*table_full_every=*/3));
  TrainShards(two, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -11, 1LL << 40}, 1);
  SaveAndCommit(two, 1);
  TrainShards(two, {2, 3, 100, 101}, 3);
  SaveAndCommit(two, 3);
  TrainShards(two, {2, 3, 200}, 6);  // keys last touched at 1 expire: the increment deletes them
  SaveAndCommit(two, 6);
  for (int s = 0; s < 2; ++s) {
    CHECK(fs::exists(TableCheckpointPath(chain_dir.path(), "ids", 1, false, s, 2)));
    CHECK(fs::exists(TableCheckpointPath(chain_dir.path(), "ids", 3, true, s, 2)));
    CHECK(fs::exists(TableCheckpointPath(chain_dir.path(), "ids", 6, true, s, 2)));
  }
  int64_t increment_rows = 0, deleted = 0;
  for (int s = 0; s < 2; ++s) {
    TableRows rows = ReadTableCheckpoint(TableCheckpointPath(chain_dir.path(), "ids", 6, true, s, 2)).value();
    increment_rows += static_cast<int64_t>(rows.keys.size());
    deleted += static_cast<int64_t>(rows.deleted_keys.size());
  }
  CHECK(increment_rows == 3);  // only what changed since step 3
  CHECK(deleted == 10);

  // A full checkpoint of the same state, taken once the chain is written.
  std::vector<std::unique_ptr<ParameterShard>> full;
  for (int s = 0; s < 2; ++s) full.push_back(ShardWithTable(full_dir.path(), s, 2, 1));
  for (int s = 0; s < 2; ++s) full[s]->tables().Replace("ids", Ids(*two[s]));
  SaveAndCommit(full, 6);
  CHECK(fs::exists(TableCheckpointPath(full_dir.path(), "ids", 6, false, 0, 2)));

  const auto expected = Rows(RestoredInto(full_dir.path(), 6, 2));
  CHECK(expected.size() == 5);  // 2, 3, 100, 101, 200 and none of the expired
  CHECK(expected == Rows({Ids(*two[0]), Ids(*two[1])}));
  for (int n : {1, 2, 3}) {
    INFO(n << " shards");
    CHECK(Rows(RestoredInto(chain_dir.path(), 6, n)) == expected);
  }
  // A restarted shard's table, created after the restore, starts from its rows of the checkpoint.
  std::vector<std::unique_ptr<ParameterShard>> restarted;
  for (int s = 0; s < 2; ++s) {
    restarted.push_back(ShardWithTable(chain_dir.path(), s, 2, 3));
    CHECK(restarted[s]->restored_checkpoint() == std::optional<int64_t>(6));
    REQUIRE(restarted[s]->RestoreTables({"ids"}).ok());
  }
  CHECK(Rows({Ids(*restarted[0]), Ids(*restarted[1])}) == expected);
  // An older checkpoint restores the older rows (the chain stops at its step).
  REQUIRE(restarted[0]->RestoreCheckpoint(3).ok());
  CHECK(Ids(*restarted[0])->ReadRow(1, nullptr) == (TableShardOf(1, 2) == 0));
  CHECK(!Ids(*restarted[0])->ReadRow(200, nullptr));
}

TEST_CASE("a table write that fails fails the shard's save, and that shard's next table file is full") {
  TempDir dir;
  std::vector<std::unique_ptr<ParameterShard>> two;
  for (int s = 0; s < 2; ++s) two.push_back(ShardWithTable(dir.path(), s, 2, /*table_full_every=*/10));
  TrainShards(two, {1, 2, 3, 4, 5, 6}, 1);
  SaveAndCommit(two, 1);
  TrainShards(two, {1, 2, 3, 4, 7, 8}, 2);
  // Step 2: shard 1 cannot write its table file (a full directory where it goes).
  REQUIRE(two[0]->SaveCheckpoint(2).ok());
  const std::string blocked = TableCheckpointPath(dir.path(), "ids", 2, true, 1, 2);
  fs::create_directories(blocked);
  { std::ofstream blocker(blocked + "/x"); }
  Status failed = two[1]->SaveCheckpoint(2).status();
  CHECK(!failed.ok());
  CHECK(!fs::exists(CheckpointShardPath(dir.path(), 2, 1)));  // no dense file: step 2 never completes
  CHECK(!two[0]->CommitCheckpoint(2).ok());
  fs::remove_all(blocked);
  TrainShards(two, {9}, 3);
  SaveAndCommit(two, 3);
  CHECK(fs::exists(TableCheckpointPath(dir.path(), "ids", 3, false, 1, 2)));  // full after the failure
  CHECK(Rows(RestoredInto(dir.path(), 3, 3)) == Rows({Ids(*two[0]), Ids(*two[1])}));
  CHECK(CompleteCheckpoints(dir.path()) == std::vector<int64_t>{3, 1});
}

}  // namespace flowps::ps

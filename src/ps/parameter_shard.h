// ParameterShard: everything one flowps-ps task holds: its VariableStore, its
// UpdateRule (sync or async) and its checkpoints. The RPC server
// (ParameterServerImpl) is a thin layer over it.
//
// Checkpoints are driven by the chief through the ps client: it asks every
// shard to SaveCheckpoint(N) and, once all have answered, asks shard 0 (the
// coordinator) to CommitCheckpoint(N), which verifies every shard file and
// writes the MANIFEST. A save writes a consistent snapshot of this shard (no
// update in progress). On Open, the shard checks that it can write to its
// checkpoint directory (ProbeCheckpointDir) and restores the newest complete
// checkpoint there, if any; the chief then has every shard restore the one
// checkpoint that is valid on all of them (RestoreCheckpoint(step)).
//
// Thread safety: all methods may be called from any thread; saves and restores
// are serialised by a mutex of their own.
#pragma once

#include <atomic>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "kernels/optimizers.h"
#include "ps/async_applier.h"
#include "ps/checkpoint.h"
#include "core/train_config.h"
#include "ps/sync_aggregator.h"
#include "ps/table_store.h"
#include "ps/variable_store.h"

namespace spdlog {
class logger;
}

namespace flowps {

class ThreadPool;

namespace ps {

struct ShardConfig {
  int shard = 0;
  int num_shards = 1;
  TrainingMode mode = TrainingMode::kSync;
  SyncConfig sync;
  AsyncConfig async;
  OptimizerConfig optimizer;
  std::string checkpoint_dir;  // empty: this shard neither saves nor restores
  int keep_checkpoints = 3;
  // Every K-th checkpoint of a table is full (and the first one of this
  // shard, and the one after a failed write); the others are incremental.
  int table_full_every = 10;
  std::string job_id;  // the chief's id of the job run the shard serves
  // Tests only, never from the wire (ParameterServerOptions): sleep between
  // writing a shard file and renaming it into place.
  int test_pause_before_rename_ms = 0;

  Status Validate() const;
  bool operator==(const ShardConfig&) const = default;
};

class ParameterShard {
 public:
  static StatusOr<std::unique_ptr<ParameterShard>> Open(ShardConfig config, ThreadPool* pool,
                                                        std::shared_ptr<spdlog::logger> log);

  const ShardConfig& config() const { return config_; }
  VariableStore& store() { return store_; }
  UpdateRule& rule() { return *rule_; }
  // The shard's embedding tables (created by the chief's createTables). Each
  // checkpoint writes them too (ps/table_checkpoint.h): a full file every
  // config().table_full_every-th time, an increment otherwise.
  TableStore& tables() { return tables_; }
  // The checkpoint step restored by Open or RestoreCheckpoint, if any; never
  // waits for a checkpoint being written.
  std::optional<int64_t> restored_checkpoint() const;

  // Writes this shard's table files, then its dense file, of checkpoint
  // `checkpoint_step` (a failed table write fails the save: no dense file, so
  // the checkpoint never completes).
  StatusOr<CheckpointShardInfo> SaveCheckpoint(int64_t checkpoint_step);
  // Coordinator only (shard 0): completes checkpoint `checkpoint_step`.
  Status CommitCheckpoint(int64_t checkpoint_step);
  // Restores checkpoint `checkpoint_step` (nullopt: the newest complete one
  // whose file verifies), replacing the live state; NotFound if there is
  // none, FailedPrecondition naming the file if this shard's file is corrupt.
  // Tables that exist then are restored to the same step (RestoreTables).
  StatusOr<int64_t> RestoreCheckpoint(std::optional<int64_t> checkpoint_step = std::nullopt);
  // Replaces each table of `names` by its rows in the restored checkpoint
  // (restored_checkpoint()), keeping this shard's keys; does nothing without
  // a restored checkpoint. For tables created after the restore (createTables).
  // Disk I/O: never call it on the RPC loop.
  Status RestoreTables(const std::vector<std::string>& names);

 private:
  ParameterShard(ShardConfig config, ThreadPool* pool, std::shared_ptr<spdlog::logger> log);

  const ShardConfig config_;
  std::shared_ptr<spdlog::logger> log_;
  VariableStore store_;
  std::unique_ptr<UpdateRule> rule_;
  TableStore tables_;
  Status SaveTablesLocked(int64_t checkpoint_step);
  Status RestoreTablesLocked(int64_t checkpoint_step, const std::vector<std::string>& names);

  mutable std::mutex checkpoint_mu_;
  // Per table: increments written since its last full file; absent: the next
  // one is full (none yet, a restore, or a failed write). Guarded by checkpoint_mu_.
  std::map<std::string, int> table_increments_;
  std::atomic<int64_t> restored_{-1};  // -1: none; written under checkpoint_mu_
};

}  // namespace ps
}  // namespace flowps

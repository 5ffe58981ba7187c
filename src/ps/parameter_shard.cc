#include "ps/parameter_shard.h"

#include <spdlog/spdlog.h>

#include "ps/table_checkpoint.h"

namespace flowps::ps {

Status ShardConfig::Validate() const {
  if (num_shards < 1 || shard < 0 || shard >= num_shards)
    return InvalidArgument("ps shard " + std::to_string(shard) + " of " + std::to_string(num_shards) +
                           " is out of range");
  FLOWPS_RETURN_IF_ERROR(optimizer.Validate());
  if (mode == TrainingMode::kSync) FLOWPS_RETURN_IF_ERROR(sync.Validate());
  if (mode == TrainingMode::kAsync) FLOWPS_RETURN_IF_ERROR(async.Validate());
  if (keep_checkpoints < 1) return InvalidArgument("checkpoint.keep must be >= 1");
  if (table_full_every < 1) return InvalidArgument("checkpoint.table_full_every must be >= 1");
  return Status::OK();
}

ParameterShard::ParameterShard(ShardConfig config, ThreadPool* pool, std::shared_ptr<spdlog::logger> log)
    : config_(std::move(config)), log_(std::move(log)), store_(config_.optimizer, pool),
      tables_(config_.shard, config_.num_shards) {
  if (config_.mode == TrainingMode::kSync)
    rule_ = std::make_unique<SyncAggregator>(config_.sync, &store_, log_);
  else
    rule_ = std::make_unique<AsyncApplier>(config_.async, &store_, log_);
}

StatusOr<std::unique_ptr<ParameterShard>> ParameterShard::Open(ShardConfig config, ThreadPool* pool,
                                                               std::shared_ptr<spdlog::logger> log) {
  FLOWPS_RETURN_IF_ERROR(config.Validate());
  std::unique_ptr<ParameterShard> shard(new ParameterShard(std::move(config), pool, std::move(log)));
  if (!shard->config_.checkpoint_dir.empty()) {
    FLOWPS_RETURN_IF_ERROR(ProbeCheckpointDir(shard->config_.checkpoint_dir, shard->config_.shard)
                               .WithContext("ps shard " + std::to_string(shard->config_.shard)));
    StatusOr<int64_t> restored = shard->RestoreCheckpoint();
    if (!restored.ok() && restored.status().code() != Code::kNotFound) return restored.status();
  }
  return shard;
}

std::optional<int64_t> ParameterShard::restored_checkpoint() const {
  const int64_t n = restored_.load();
  if (n < 0) return std::nullopt;
  return n;
}

StatusOr<CheckpointShardInfo> ParameterShard::SaveCheckpoint(int64_t checkpoint_step) {
  if (config_.checkpoint_dir.empty()) return FailedPrecondition("this ps shard has no checkpoint dir");
  std::lock_guard<std::mutex> lock(checkpoint_mu_);
  FLOWPS_RETURN_IF_ERROR(SaveTablesLocked(checkpoint_step));
  ShardSnapshot snapshot = rule_->Snapshot();
  StatusOr<CheckpointShardInfo> info =
      WriteShardCheckpoint(config_.checkpoint_dir, checkpoint_step, config_.shard, config_.num_shards, snapshot,
                           config_.test_pause_before_rename_ms);
  if (info.ok())
    log_->info("wrote checkpoint {} (global step {}, {} variables, {} bytes)", checkpoint_step,
               snapshot.global_step, snapshot.variables.size(), info->bytes);
  else
    log_->error("writing checkpoint {} failed: {}", checkpoint_step, info.status().ToString());
  return info;
}

Status ParameterShard::CommitCheckpoint(int64_t checkpoint_step) {
  if (config_.shard != 0) return FailedPrecondition("only ps shard 0 commits checkpoints");
  if (config_.checkpoint_dir.empty()) return FailedPrecondition("this ps shard has no checkpoint dir");
  std::lock_guard<std::mutex> lock(checkpoint_mu_);
  Status st = ps::CommitCheckpoint(config_.checkpoint_dir, checkpoint_step, config_.num_shards,
                                   config_.keep_checkpoints);
  if (st.ok()) log_->info("checkpoint {} is complete (MANIFEST written)", checkpoint_step);
  return st;
}

StatusOr<int64_t> ParameterShard::RestoreCheckpoint(std::optional<int64_t> checkpoint_step) {
  if (config_.checkpoint_dir.empty()) return FailedPrecondition("this ps shard has no checkpoint dir");
  std::lock_guard<std::mutex> lock(checkpoint_mu_);
  std::optional<std::pair<int64_t, ShardSnapshot>> found;
  if (checkpoint_step) {
    StatusOr<ShardSnapshot> snap =
        ReadCompleteCheckpoint(config_.checkpoint_dir, *checkpoint_step, config_.shard, config_.num_shards);
    if (!snap.ok()) {
      log_->warn("cannot restore checkpoint {}: {}", *checkpoint_step, snap.status().message());
      return snap.status();
    }
    found.emplace(*checkpoint_step, std::move(*snap));
  } else {
    std::vector<std::string> skipped;
    FLOWPS_ASSIGN_OR_RETURN(found, RestoreNewestCheckpoint(config_.checkpoint_dir, config_.shard,
                                                           config_.num_shards, &skipped));
    for (const std::string& why : skipped) log_->warn("skipped a checkpoint: {}", why);
    if (!found) return NotFound("no complete checkpoint in " + config_.checkpoint_dir);
  }
  const int64_t global_step = found->second.global_step;
  FLOWPS_RETURN_IF_ERROR(rule_->Restore(std::move(found->second)));
  std::vector<std::string> names;
  for (const auto& [name, table] : tables_.All()) names.push_back(name);
  FLOWPS_RETURN_IF_ERROR(RestoreTablesLocked(found->first, names));
  restored_ = found->first;
  log_->info("restored checkpoint {} (global step {})", found->first, global_step);
  return found->first;
}

Status ParameterShard::SaveTablesLocked(int64_t checkpoint_step) {
  for (const auto& [name, table] : tables_.All()) {
    auto it = table_increments_.find(name);
    const bool incremental = it != table_increments_.end() && it->second + 1 < config_.table_full_every;
    const TableRows rows = table->Checkpoint(incremental);
    Status st = WriteTableCheckpoint(config_.checkpoint_dir, name, checkpoint_step, incremental, config_.shard,
                                     config_.num_shards, rows);
    if (!st.ok()) {
      table_increments_.erase(name);  // the rows written are no longer marked changed
      log_->error("writing checkpoint {} of embedding table '{}' failed: {}", checkpoint_step, name, st.ToString());
      return st;
    }
    table_increments_[name] = incremental ? it->second + 1 : 0;
    log_->info("wrote checkpoint {} of embedding table '{}' ({}: {} rows, {} deleted)", checkpoint_step, name,
               incremental ? "incremental" : "full", rows.keys.size(), rows.deleted_keys.size());
  }
  return Status::OK();
}

Status ParameterShard::RestoreTables(const std::vector<std::string>& names) {
  if (config_.checkpoint_dir.empty()) return Status::OK();
  std::lock_guard<std::mutex> lock(checkpoint_mu_);
  const int64_t step = restored_.load();
  if (step < 0) return Status::OK();
  return RestoreTablesLocked(step, names);
}

Status ParameterShard::RestoreTablesLocked(int64_t checkpoint_step, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    FLOWPS_ASSIGN_OR_RETURN(std::shared_ptr<EmbeddingTable> old, tables_.Find(name));
    auto fresh = std::make_shared<EmbeddingTable>(old->spec());
    FLOWPS_ASSIGN_OR_RETURN(const bool found, RestoreTableAtStep(config_.checkpoint_dir, checkpoint_step,
                                                                 config_.shard, config_.num_shards, fresh.get()));
    tables_.Replace(name, fresh);
    table_increments_.erase(name);
    log_->info("embedding table '{}': {} rows restored from checkpoint {}", name,
               found ? fresh->Stats().rows : 0, checkpoint_step);
  }
  return Status::OK();
}

}  // namespace flowps::ps

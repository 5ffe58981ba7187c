// The job's training configuration on the wire: the one place where the
// optimizer, the training mode, the staleness policy and the initializers
// cross between their C++ types (core/train_config.h, kernels/initializers.h)
// and their Cap'n Proto form (net/schema/ps.capnp), one function each way.
//
// The readers check every enum value: a value this build does not know (a
// newer or a broken peer) is an InvalidArgument naming the field and the
// number, never a crash. Range checks of the numbers stay with the types
// (OptimizerConfig::Validate, InitializerSpec::Validate, the ps's ShardConfig).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/table_config.h"
#include "core/train_config.h"
#include "kernels/initializers.h"
#include "net/ps.capnp.h"

namespace flowps {

// How a job wants its ps shards to train (wire::ShardConfig): mode, optimizer
// and checkpoints. The chief makes it from the job spec (worker/shard_setup.h);
// the shards check the values again when configured.
struct PsJobConfig {
  TrainingMode mode = TrainingMode::kSync;
  int replicas_to_aggregate = 1;  // sync: N
  int total_workers = 1;          // N + b (sync); worker ids 0 .. total_workers-1
  int64_t max_staleness = -1;     // async: -1 unbounded
  StalenessPolicy staleness_policy = StalenessPolicy::kRefuse;  // async
  OptimizerConfig optimizer;
  std::string checkpoint_dir;  // "": no checkpoints
  int keep_checkpoints = 3;
  int table_full_every = 10;  // every K-th checkpoint of a table is full, the others incremental
  std::string job_id;  // the chief's id of this run of the job: another one starts the shards anew

  bool operator==(const PsJobConfig&) const = default;
};

void WriteShardConfig(const PsJobConfig& config, wire::ShardConfig::Builder out);
StatusOr<PsJobConfig> ReadShardConfig(wire::ShardConfig::Reader in);

void WriteInitializer(const kernels::InitializerSpec& spec, wire::Initializer::Builder out);
StatusOr<kernels::InitializerSpec> ReadInitializer(wire::Initializer::Reader in);

void WriteOptimizer(const OptimizerConfig& config, wire::OptimizerSpec::Builder out);
StatusOr<OptimizerConfig> ReadOptimizer(wire::OptimizerSpec::Reader in);

// An embedding table's definition. Writing fails for an initializer kind
// this build does not know (TableConfig names it); reading for an enum value
// it does not know. Ranges are checked by the ps (ps::EmbeddingTableSpec::Validate).
Status WriteTableDef(const TableConfig& table, wire::TableDef::Builder out);
StatusOr<TableConfig> ReadTableDef(wire::TableDef::Reader in);

// The mode alone (ShardStats).
wire::TrainingMode TrainingModeToWire(TrainingMode mode);
StatusOr<TrainingMode> TrainingModeFromWire(wire::TrainingMode mode);

}  // namespace flowps

// Checkpoints of embedding tables on disk: full (every row) and incremental
// (the rows changed and the keys evicted since the previous checkpoint of the
// table), restorable into any number of ps shards.
//
// Layout:  <dir>/tables/<table>/step-<N>.full/shard-<k>-of-<n>.rows
//          <dir>/tables/<table>/step-<N>.incr/shard-<k>-of-<n>.rows
// Each shard writes its own file (temp, fsync, rename, fsync dir); a step is
// complete when all n files of it are there. A restore takes the newest
// complete full checkpoint and then every complete increment after it, in step
// order, up to the first incomplete one. Each file holds keys, not shard
// positions, so a restoring shard reads the files of every old shard and keeps
// the keys TableShardOf(key, new_num_shards) gives it.
//
// File format (little endian): "FPTABLE1" u64:stride u64:rows, per row
// i64:key i64:last_step f32[stride]; u64:deleted i64[deleted]; then the trailer
// u64:payload_bytes u32:crc32(payload) "FPTABEND".
//
// The implementation lives in checkpoint.cc, next to the file helpers it shares.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "ps/embedding_table.h"

namespace flowps::ps {

std::string TableCheckpointPath(const std::string& dir, const std::string& table, int64_t step,
                                bool incremental, int shard, int num_shards);

// Writes one shard's rows of checkpoint `step` of `table`. If this fails after
// EmbeddingTable::Checkpoint(true) produced `rows`, those rows are no longer
// marked changed: the next checkpoint of the table must be a full one.
Status WriteTableCheckpoint(const std::string& dir, const std::string& table, int64_t step, bool incremental,
                            int shard, int num_shards, const TableRows& rows);
// Reads and verifies (length, checksum, sizes) one file.
StatusOr<TableRows> ReadTableCheckpoint(const std::string& path);

struct TableCheckpointStep {
  int64_t step = 0;
  bool incremental = false;
  std::vector<std::string> files;  // every shard's file
};
// The steps a restore of `table` loads, in order: the newest complete full
// checkpoint and the complete increments after it (empty if there is none).
std::vector<TableCheckpointStep> TableRestoreChain(const std::string& dir, const std::string& table);

// Loads `table`'s restore chain into `out`, keeping the keys of shard `shard`
// of `num_shards`. Returns the step restored (-1: no checkpoint). A corrupt
// file fails the restore (FailedPrecondition naming the file).
StatusOr<int64_t> RestoreTableShard(const std::string& dir, int shard, int num_shards, EmbeddingTable* out);

// ---- tables in the job's checkpoints (ParameterShard) ----
// Each shard writes every table's file of job checkpoint N before its dense
// shard file (checkpoint.h), so a complete job checkpoint (MANIFEST) has
// every old shard's table files of step N. A full file at step F also removes
// this (shard, num_shards)'s table files of steps after F (left by a run that
// was abandoned: they must not join a newer chain).

// Restores `out` to complete job checkpoint `step`: n is the MANIFEST's shard
// count; of each old shard j of n, its newest full file at a step <= `step`,
// then its increments after that up to `step`, in step order, keeping the keys
// that TableShardOf(key, num_shards) gives `shard`. Each old shard's chain is
// its own: a shard whose write failed writes a full file next. False if the
// checkpoint holds no file of the table (a table the job did not have then).
// FailedPrecondition naming the file if one is corrupt or a chain is broken.
StatusOr<bool> RestoreTableAtStep(const std::string& dir, int64_t step, int shard, int num_shards,
                                  EmbeddingTable* out);

// Removes the table files no restore of a kept checkpoint needs: of every
// table, the step directories older than its newest complete full one at or
// before `oldest_kept` (the oldest complete job checkpoint kept).
void PruneTableCheckpoints(const std::string& dir, int64_t oldest_kept);

}  // namespace flowps::ps

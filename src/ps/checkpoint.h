// Checkpoints of ps shards on disk.
//
// Layout:  <dir>/step-<N>/shard-<k>.ckpt   one per shard, written by that shard
//          <dir>/step-<N>/MANIFEST         written last, once every shard file is there
// N is the checkpoint's step as chosen by the chief; each shard file also
// records the shard's own global step. A shard file is written to
// shard-<k>.ckpt.tmp, fsync'ed, renamed, and the directory fsync'ed, so a
// crash leaves either the old state or the whole new file. Only a checkpoint
// with a MANIFEST is complete, and only complete checkpoints are restored.
//
// Shard file format (little endian): "FLOWPSCK" u32:version u32:shard
// u32:num_shards i64:checkpoint_step i64:global_step u32:num_variables, then per
// variable: str:name u32:rank i64[rank]:full_dims i64:row_begin i64:row_end
// u32:num_tensors (value, then slots) and per tensor str:slot_name u64:bytes
// bytes; then the trailer u64:payload_bytes u32:crc32(payload) "FLOWPSND".
// (str is u32 length + bytes.) A file whose length or checksum disagrees with
// its trailer or with the MANIFEST is corrupt and is never restored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "ps/update_rule.h"

namespace flowps::ps {

struct CheckpointShardInfo {
  int shard = 0;
  uint64_t bytes = 0;  // the whole file
  uint32_t crc32 = 0;  // of the payload
};

std::string CheckpointStepDir(const std::string& dir, int64_t checkpoint_step);
std::string CheckpointShardPath(const std::string& dir, int64_t checkpoint_step, int shard);

// Checks that shard `shard` can write checkpoints to `dir`: creates it if
// missing, then creates, writes, fsyncs and removes a probe file there.
// FailedPrecondition naming the path and the system's reason (e.g. "Read-only
// file system", "No space left on device", "Not a directory").
Status ProbeCheckpointDir(const std::string& dir, int shard);

// Writes this shard's file of checkpoint `checkpoint_step` (temp, fsync,
// rename, fsync dir). First removes this shard's files of incomplete
// checkpoints older than `checkpoint_step` (rounds that failed elsewhere). `pause_before_rename_ms` > 0 is for tests only: it
// sleeps between the fsync of the temp file and the rename, which makes the
// write window observable (a kill -9 there must leave the old checkpoint).
StatusOr<CheckpointShardInfo> WriteShardCheckpoint(const std::string& dir, int64_t checkpoint_step, int shard,
                                                   int num_shards, const ShardSnapshot& snapshot,
                                                   int pause_before_rename_ms = 0);

// Reads and verifies a shard file (trailer length and checksum; if `expected`
// is given, also its size and checksum against the MANIFEST).
StatusOr<ShardSnapshot> ReadShardCheckpoint(const std::string& path, int shard, int num_shards,
                                            const std::optional<CheckpointShardInfo>& expected = std::nullopt);

// Verifies every shard file of `checkpoint_step`, writes its MANIFEST (temp,
// fsync, rename, fsync dir), then prunes checkpoints so that the newest `keep`
// complete ones remain (older directories, complete or not, are removed; so
// is an incomplete one older than `checkpoint_step`: a write that failed).
// FailedPrecondition naming the shard if a shard file is missing or corrupt.
Status CommitCheckpoint(const std::string& dir, int64_t checkpoint_step, int num_shards, int keep);

// The steps of complete checkpoints (those with a MANIFEST), newest first.
std::vector<int64_t> CompleteCheckpoints(const std::string& dir);

// Reads and verifies shard `shard`'s file of the complete checkpoint
// `checkpoint_step` (its MANIFEST, then the file against it). NotFound
// without a MANIFEST; FailedPrecondition naming the file if it is corrupt.
StatusOr<ShardSnapshot> ReadCompleteCheckpoint(const std::string& dir, int64_t checkpoint_step, int shard,
                                               int num_shards);

// Restores shard `shard` from the newest complete checkpoint whose files
// verify; nullopt if there is none. A corrupt newest checkpoint is skipped
// (with its reason in *skipped) in favour of an older complete one.
StatusOr<std::optional<std::pair<int64_t, ShardSnapshot>>> RestoreNewestCheckpoint(
    const std::string& dir, int shard, int num_shards, std::vector<std::string>* skipped);

}  // namespace flowps::ps

// PsClient: a worker's (or the chief's) view of all ps shards.
//
// It fans every operation out to the shards that hold the variables involved,
// one RPC per shard joined with kj::joinPromises, using the PartitionPlan
// (core/partition_plan.h) that every task computes the same way: dense
// tensors are sliced by row range (zero copy), sparse rows are grouped by the
// part that owns them. Pushed tensors are referenced from the request, not
// copied; a shard's push too large for one message (more than
// max_tensors_per_message large tensors, or more than max_message_bytes) is
// sent in parts that the shard reassembles. Embedding table gradients go
// with the first part of a pushPull to the shard that holds each key
// (core/key_shard.h). With `bfloat16`, float32 travels
// as bfloat16 (the low 16 bits truncated) both ways.
//
// Steps: every pull reports each shard's global step; a push carries, per
// shard, the step of the parameters it was computed from, plus the worker id.
// A push goes to every shard, with an empty gradient list where a shard holds
// nothing of it, so that each shard counts it. A training step is one
// PushPull: one pushPull RPC per shard that pushes the gradients and answers
// with the values the worker reads next (sync: once the shard released the
// next step). A push that fails because the connection broke is sent again
// after reconnecting (push_attempts in all): the shard recognises (worker,
// step, seq) and never applies it twice. seq, given by the caller, counts the
// worker's pushes to a shard from the same step (async prefetch pushes twice
// from one step: PsParameterSource numbers them). Pulls and waitForStep calls are made
// again the same way (they change nothing).
//
// Threads: a PsClient belongs to the thread whose KJ event loop it was made on.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <kj/async-io.h>

#include "core/partition_plan.h"
#include "core/status.h"
#include "core/table_config.h"
#include "core/tensor.h"
#include "core/tls_settings.h"
#include "core/trace.h"
#include "core/variable_gradient.h"
#include "kernels/initializers.h"
#include "net/config_wire.h"  // PsJobConfig
#include "net/stats_wire.h"

namespace flowps {

struct PsClientOptions {
  std::vector<std::string> shard_addresses;  // "host:port", index = shard
  std::string token;                         // the cluster token
  std::optional<TlsSettings> tls;            // set: every shard over mutual TLS (as RpcClientOptions)
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds call_timeout{120000};  // bounds every call, waitForStep included
  bool bfloat16 = false;
  int push_attempts = 3;  // tries of a push, pull or waitForStep whose connection broke
  size_t max_tensors_per_message = 4;           // large (referenced) tensors per push message
  size_t max_message_bytes = size_t{1} << 30;   // tensor bytes per push message
};

enum class PushReplyOutcome { kAccepted, kApplied, kDuplicate, kStale };

struct ShardPushReply {
  PushReplyOutcome outcome = PushReplyOutcome::kAccepted;
  int64_t global_step = 0;
  double wait_seconds = 0;  // pushPull: how long the shard held the answer for the step's release
};

struct PulledVariables {
  std::map<std::string, Tensor> values;  // whole variables (or the rows asked for)
  std::vector<int64_t> shard_steps;      // each shard's global step when it answered
};

using ShardStatsReply = ShardStats;  // net/stats_wire.h

class TableKeys;

// One table's keys of a batch to look up (net/table_keys.h: deduplicated,
// split by shard). The TableKeys must outlive the lookup's promise.
struct TableLookupRequest {
  std::string table;
  const TableKeys* keys = nullptr;
};

// The rows of a lookup: per request, per shard, float32 [len(shard_keys(s)), dim]
// in that shard's key order.
struct TableLookupResult {
  std::vector<std::vector<Tensor>> rows;
  std::vector<int64_t> shard_steps;  // each shard's global step when it answered (-1: not asked)
};

// What a worker reads back with its push: whole variables, rows of sparse
// ones, and rows of embedding tables by key.
struct PullSpec {
  std::vector<std::string> names;      // whole variables
  std::map<std::string, Tensor> rows;  // variable -> int64 [n] global row ids (its next batch's ids)
  // The keys of the next batch per table (a training lookup, as LookupTables
  // with train: rows are admitted and created); each shard gets its keys.
  std::vector<TableLookupRequest> tables = {};
};

struct PushPullResult {
  std::vector<ShardPushReply> pushed;  // one per shard
  // Values after the step (rows: [n, ...] in the order asked); pulled.shard_steps = each shard's new step.
  PulledVariables pulled;
  // The rows of next.tables, as LookupTables answers them (rows empty when none were asked).
  TableLookupResult tables;
};

class PsClient {
 public:
  // REQUIRES: plan.num_shards == options.shard_addresses.size().
  PsClient(kj::AsyncIoContext& io, PsClientOptions options, PartitionPlan plan);
  ~PsClient();
  PsClient(const PsClient&) = delete;
  PsClient& operator=(const PsClient&) = delete;

  const PartitionPlan& plan() const { return plan_; }
  int num_shards() const { return plan_.num_shards; }

  // Configures every shard (see PsJobConfig); each restores its newest
  // complete checkpoint. Resolves to each shard's restored checkpoint (-1: none).
  kj::Promise<std::vector<int64_t>> Configure(PsJobConfig config);
  // Creates every variable of the plan on its shards (variables without an
  // entry in `inits` start at zero). Resolves to the number of parts created:
  // 0 when every shard restored them from a checkpoint.
  kj::Promise<int> CreateVariables(std::map<std::string, kernels::InitializerSpec> inits);
  // Whole variables; a variable held in one part arrives without a copy.
  kj::Promise<PulledVariables> Pull(std::vector<std::string> names);
  // Rows of one variable, [len(rows), ...] in the order asked.
  kj::Promise<PulledVariables> PullRows(std::string name, std::vector<int64_t> rows);
  // Pushes to every shard k with (worker, shard_steps[k], shard_seqs[k]);
  // empty shard_seqs: seq 0 everywhere. seq counts the worker's pushes to the
  // shard computed from the same step (see the file comment); calling again
  // with the same steps and seqs is a resend, a duplicate if the first landed.
  kj::Promise<std::vector<ShardPushReply>> Push(int32_t worker, std::vector<int64_t> shard_steps,
                                                std::vector<VariableGradient> grads,
                                                std::vector<uint32_t> shard_seqs = {});
  // One RPC per shard: pushes grads tagged (worker, shard_steps[k], shard_seqs[k]) (as Push) and answers with
  // the values of `next`.
  // Sync: resolves once every shard has released step shard_steps[k]+1 (or moved past it), with the values
  // of that step. Async: resolves once the push was applied (or dropped as stale/duplicate), with the
  // current values. A push refused by a shard (bad input) fails the whole call.
  // With an active `trace`, each shard's call is a span "pushPull" (category
  // "rpc", detail "ps:k", track "rpc ps:k") under trace.parent, and the shard
  // records its spans of the call under it.
  kj::Promise<PushPullResult> PushPull(int32_t worker, std::vector<int64_t> shard_steps,
                                       std::vector<VariableGradient> grads, PullSpec next,
                                       const TraceContext& trace = {}, std::vector<uint32_t> shard_seqs = {});
  // Resolves once every shard k has reached steps[k]; to the shards' steps.
  // (Not needed by a step: PushPull waits. For tools and tests.)
  kj::Promise<std::vector<int64_t>> WaitForStep(std::vector<int64_t> steps);
  // Every shard writes checkpoint `checkpoint_step`, then shard 0 completes it.
  kj::Promise<void> Checkpoint(int64_t checkpoint_step);
  // Each shard's complete checkpoints (newest first), as shard 0 sees them, and each shard's restored one.
  kj::Promise<std::vector<int64_t>> RestoredCheckpoints();
  // The complete checkpoints (those with a MANIFEST), newest first, as shard 0 lists them.
  kj::Promise<std::vector<int64_t>> CompleteCheckpoints();
  // Every shard restores checkpoint `checkpoint_step`; resolves to each
  // shard's outcome (OK, or why it could not: its file is corrupt, ...).
  kj::Promise<std::vector<Status>> RestoreCheckpoint(int64_t checkpoint_step);
  kj::Promise<std::vector<ShardStatsReply>> Stats();

  // Embedding tables (net/ps_client_tables.cc). Creates the job's tables on
  // every shard; resolves to the number created (0: every shard had them).
  kj::Promise<int> CreateTables(std::vector<TableConfig> tables);
  // One lookupTables RPC per shard that holds keys of some request (train: a
  // training step's lookup; otherwise a read that changes nothing). Table
  // gradients (VariableGradient::table) travel with PushPull, routed by key.
  kj::Promise<TableLookupResult> LookupTables(std::vector<TableLookupRequest> requests, bool train);

  // Drops every connection (they are made again on next use); for tests.
  void Disconnect();

 private:
  struct Shard;
  struct PushJob;
  struct ReadPlan;
  struct ShardRead;
  std::unique_ptr<Shard>& shard(int k) { return shards_[static_cast<size_t>(k)]; }
  // A push split by shard (REQUIRES: shard_steps has one step per shard).
  // (seqs: one per shard, or empty for all 0.)
  StatusOr<std::shared_ptr<PushJob>> SplitPush(int32_t worker, std::vector<int64_t> shard_steps,
                                               std::vector<uint32_t> seqs,
                                               const std::vector<VariableGradient>& grads) const;
  // What each shard is asked for a read of `spec`.
  StatusOr<std::shared_ptr<const ReadPlan>> PlanRead(const PullSpec& spec) const;
  // The shards' answers put together: whole variables and rows in the order asked.
  PulledVariables Assemble(const ReadPlan& plan, std::vector<ShardRead> reads) const;
  // A read of `spec` from every shard in parallel: `ask(s, k, plan)` asks shard
  // k for its share (again after a broken connection); the answers are assembled.
  using ShardAsk = std::function<kj::Promise<ShardRead>(Shard* s, int k, std::shared_ptr<const ReadPlan> plan)>;
  kj::Promise<PulledVariables> ReadFromShards(const PullSpec& spec, ShardAsk ask);
  // Sends shard k's share of a push (in parts if large), with pushPull and
  // `read` when given; retried on a broken connection.
  kj::Promise<std::pair<ShardPushReply, ShardRead>> SendShardPush(std::shared_ptr<const PushJob> job,
                                                                   std::shared_ptr<const ReadPlan> read, int k,
                                                                   int attempt);

  PsClientOptions options_;
  PartitionPlan plan_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

// "accepted", "applied", "duplicate", "stale".
const char* PushReplyOutcomeName(PushReplyOutcome outcome);

}  // namespace flowps

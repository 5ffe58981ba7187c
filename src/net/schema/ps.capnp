@0xc3a6c5f0b1d2e4a7;
# The parameter server, one shard per flowps-ps task, reached as the Session
# service "ps". The ps client (net/ps_client.h) fans out to every shard.
# Errors (unknown variable, bad shape, NaN, a step ahead of the shard) come
# back as failed calls whose message names what was wrong; nothing is changed.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("flowps::wire");

using import "tensor.capnp".Tensor;

# The wire form of kernels::InitializerKind, OptimizerKind, TrainingMode and
# StalenessPolicy (core/train_config.h); converted only in net/config_wire.h,
# which refuses a value it does not know.
enum InitializerKind {
  zeros @0;
  constant @1;
  uniform @2;
  normal @3;
  truncatedNormal @4;
  glorotUniform @5;
  glorotNormal @6;
  heUniform @7;
  heNormal @8;
}

enum OptimizerKind {
  sgd @0;
  momentum @1;
  adagrad @2;
  adam @3;
  ftrl @4;
}

enum TrainingMode {
  sync @0;
  async @1;
}

enum StalenessPolicy {
  refuse @0;
  wait @1;
}

struct Initializer {
  kind @0 :InitializerKind;
  value @1 :Float64;      # constant
  min @2 :Float64;        # uniform
  max @3 :Float64;
  mean @4 :Float64;       # normal
  stddev @5 :Float64;
  seed @6 :UInt64;        # every random kind
}

# One variable part to create on this shard: rows [rowBegin, rowEnd) of a
# variable of fullShape (float32).
struct VariableDef {
  name @0 :Text;
  fullShape @1 :List(Int64);
  rowBegin @2 :Int64;
  rowEnd @3 :Int64;
  initializer @4 :Initializer;
}

struct NamedTensor {
  name @0 :Text;
  tensor @1 :Tensor;
}

struct RowsRequest {
  variable @0 :Text;
  indices @1 :Tensor;     # int32/int64 global row ids held by this shard
}

# What a pushPull reads back once its push is through: whole parts, and rows
# of parts (values [len(indices), ...] in the order asked).
struct ReadBack {
  names @0 :List(Text);
  rows @1 :List(RowsRequest);
  bfloat16 @2 :Bool;
}

# Dense: values has the part's shape. Sparse: indices (global row ids) and
# values [len(indices), row dims...].
struct Gradient {
  variable @0 :Text;
  values @1 :Tensor;
  sparse @2 :Bool;
  indices @3 :Tensor;
}

enum PushOutcome {
  accepted @0;            # sync: counted towards its step
  applied @1;             # in the variables (sync: this push completed the step)
  duplicate @2;           # this (worker, step, seq) was counted or applied before
  stale @3;               # dropped: an older step, or too stale
}

struct ShardStats {
  mode @0 :TrainingMode;
  globalStep @1 :Int64;
  variables @2 :UInt32;
  bytes @3 :UInt64;
  accepted @4 :Int64;
  appliedUpdates @5 :Int64;
  staleDropped @6 :Int64;
  duplicates @7 :Int64;
  refused @8 :Int64;
  waiting @9 :Int64;          # workers waiting for their step's release, or pushes held
  rows @10 :Int64;            # rows of the parts held
  receivedBytes @11 :UInt64;  # tensor bytes of pushes
  sentBytes @12 :UInt64;      # tensor bytes of pulls and pushPull answers
  residentBytes @13 :Int64;   # the ps process's RSS
  applySeconds @14 :Histogram;  # offer to apply, of the pushes applied
  checkpointsWritten @15 :Int64;
  lastCheckpointSeconds @16 :Float64;
  lastCheckpointAgeSeconds @17 :Float64;  # -1: none written
  tables @18 :List(TableStats);           # the shard's embedding tables, by name
  tableLookupCalls @19 :Int64;            # lookupTables calls of training steps (train = true)
  tableReadsWithPush @20 :Int64;          # pushPull answers that carried table rows (nextTables)
}

# An optimizer and its hyper-parameters (core/train_config.h OptimizerConfig).
struct OptimizerSpec {
  kind @0 :OptimizerKind;
  learningRate @1 :Float64;
  momentum @2 :Float64;
  nesterov @3 :Bool;
  beta1 @4 :Float64;
  beta2 @5 :Float64;
  epsilon @6 :Float64;
  initialAccumulator @7 :Float64;
  l1 @8 :Float64;
  l2 @9 :Float64;
}

# A hash-keyed embedding table (ps/embedding_table.h): every shard holds the
# keys TableShardOf(key, shards) gives it.
struct TableDef {
  name @0 :Text;
  dim @1 :Int64;
  initializer @2 :Initializer;   # per row, from (seed, key, element)
  optimizer @3 :OptimizerSpec;   # lazy: only the rows pushed
  minCount @4 :Int64;            # admission: lookups before a key gets a row (>= 1)
  ttlSteps @5 :Int64;            # 0: rows never expire
  maxRows @6 :Int64;             # per shard; 0: unbounded
  hotWindowSteps @7 :Int64;
}

# Keys of one table (int64 [n]), all held by the shard asked.
struct TableKeys {
  table @0 :Text;
  keys @1 :Tensor;
}

# Gradients of rows by key: keys int64 [n], values float32 [n, dim].
struct TableGradient {
  table @0 :Text;
  keys @1 :Tensor;
  values @2 :Tensor;
}

struct HotKey {
  key @0 :Int64;
  lookups @1 :Int64;   # in the current window
}

struct TableStats {
  name @0 :Text;
  dim @1 :Int64;
  rows @2 :Int64;
  admitted @3 :Int64;
  lookups @4 :Int64;
  pendingLookups @5 :Int64;    # lookups of keys not (yet) admitted
  updates @6 :Int64;
  droppedUpdates @7 :Int64;    # gradients of keys without a row
  evictedTtl @8 :Int64;
  evictedCapacity @9 :Int64;
  rowBytes @10 :Int64;         # rows x (value + slots)
  memoryBytes @11 :Int64;      # all the table holds
  hotKeys @12 :List(HotKey);   # the top 10 by lookups in the current window
}

struct Histogram {
  upperBounds @0 :List(Float64);       # ascending; the +Inf bucket is implied
  cumulativeCounts @1 :List(UInt64);   # one more than upperBounds: the last counts all
  sum @2 :Float64;
}

# How the job wants its shards to train; sent by the chief before anything else.
struct ShardConfig {
  mode @0 :TrainingMode;
  replicasToAggregate @1 :Int32;  # sync: N
  totalWorkers @2 :Int32;         # N + b (sync); the worker ids 0 .. totalWorkers-1
  maxStaleness @3 :Int64;         # async: -1 unbounded
  stalenessPolicy @4 :StalenessPolicy;  # async
  optimizer @5 :OptimizerKind;
  learningRate @6 :Float64;
  momentum @7 :Float64;
  nesterov @8 :Bool;
  beta1 @9 :Float64;
  beta2 @10 :Float64;
  epsilon @11 :Float64;
  initialAccumulator @12 :Float64;
  checkpointDir @13 :Text;        # "" : no checkpoints
  keepCheckpoints @14 :Int32;
  l1 @15 :Float64;                # ftrl
  l2 @16 :Float64;                # ftrl
  jobId @17 :Text;                # the chief's id of this run of the job ("" : none)
  tableFullEvery @18 :Int32;      # every K-th table checkpoint is full, the others incremental (0: 1)
}

interface ParameterServer {
  # Configures the shard and restores the newest complete checkpoint of
  # checkpointDir, if any (restoredCheckpoint -1: none). Every other call fails
  # until the shard is configured. Configuring again with the same config
  # (jobId included) is a no-op (e.g. the chief's retry); another config (a new
  # job: another jobId, mode, optimizer or checkpointDir) replaces the shard:
  # its variables and step go, and it restores from the new checkpointDir.
  configure @10 (config :ShardConfig) -> (restoredCheckpoint :Int64, globalStep :Int64);

  # Creates (and initialises) parts; a part that exists with the same shape and
  # rows is kept (created = false), e.g. after a restore from a checkpoint.
  createVariables @0 (variables :List(VariableDef)) -> (created :List(Bool), globalStep :Int64);

  # Whole parts, and the shard's global step they belong to.
  pull @1 (names :List(Text), bfloat16 :Bool) -> (tensors :List(NamedTensor), globalStep :Int64);
  # Rows of parts.
  pullRows @2 (requests :List(RowsRequest), bfloat16 :Bool) -> (tensors :List(NamedTensor), globalStep :Int64);

  # A push of gradients computed from this shard's parameters of `step`,
  # identified by (worker, step, seq): a retry (sent again after a broken
  # connection, with the same step and seq) is never applied twice. seq counts
  # the worker's pushes computed from the same step: 0 for the first, 1 for
  # the next (async prefetch computes a step from the parameters the previous
  # push was computed from), ...; async, a push whose (step, seq) is not
  # lexicographically after the worker's last one is a duplicate. Sync
  # ignores seq. Staleness uses the step only. A push too
  # large for one message is sent in `parts` calls with part = 0 .. parts-1;
  # the shard offers it once every part is there (the earlier parts answer
  # `accepted` with `complete` false).
  push @3 (worker :Int32, step :Int64, part :UInt32, parts :UInt32, gradients :List(Gradient), seq :UInt32)
      -> (outcome :PushOutcome, globalStep :Int64, complete :Bool);

  # A push and the read of the values the worker needs next, in one round
  # trip (the training step). The push is the same as `push` (seq and parts too: the
  # earlier parts answer `accepted` with `complete` false and no values; the
  # part that completes the push carries them). It resolves
  #   sync: once the global step is >= step + 1 (the step the push counts
  #     towards was released, or had been already: a stale or duplicate push
  #     joins the step that is running), with the values of the global step
  #     it answers;
  #   async: once the push was applied (or dropped as stale or duplicate),
  #     with the current values.
  # A refused push (bad input) fails the call and reads nothing.
  pushPull @11 (worker :Int32, step :Int64, part :UInt32, parts :UInt32, gradients :List(Gradient),
                next :ReadBack, tableGradients :List(TableGradient), traceParent :UInt64,
                nextTables :List(TableKeys), seq :UInt32)
      -> (outcome :PushOutcome, globalStep :Int64, complete :Bool,
          values :List(NamedTensor), rows :List(NamedTensor), waitSeconds :Float64,
          tableRows :List(Tensor));
  # waitSeconds: how long the answer waited for the step's release (sync).
  # tableGradients: rows of embedding tables by key (only keys this shard
  # holds), checked with the push (a bad one refuses the call, nothing
  # applied) and applied on arrival at step + 1 once the push is taken (not
  # for a duplicate or stale push), before the answer's read: tables are not
  # aggregated by the sync step.
  # nextTables: keys of embedding tables the worker reads next (the ids of
  # its next batch, only keys this shard holds), checked with the push (a bad
  # one refuses the call, nothing applied); tableRows answers them, per
  # request [len(keys), dim] in the order asked, read with the values (after
  # the wait: sync, the rows after the step's apply; async, the current rows)
  # as a training lookup at the global step answered -- rows are admitted and
  # created as by lookupTables -- except for a duplicate push, whose rows are
  # only read (its first copy looked them up). Empty for an earlier part.
  # traceParent: the worker's span of this call when it traces the step
  # (`--trace`), 0 otherwise; the shard then records its spans of the call
  # (aggregate or apply, wait, read) under it (core/trace.h).

  # Resolves once the shard's global step is >= step (the sync step token).
  # Not part of a step any more (pushPull waits); kept for tools and tests.
  waitForStep @4 (step :Int64) -> (globalStep :Int64);

  # Writes this shard's file of checkpoint `checkpointStep`.
  saveCheckpoint @5 (checkpointStep :Int64) -> (bytes :UInt64, globalStep :Int64);
  # Shard 0 only: verifies every shard's file and writes the MANIFEST.
  commitCheckpoint @6 (checkpointStep :Int64) -> ();
  # Restores checkpoint `checkpointStep` (-1: the newest complete one whose
  # file verifies), replacing the live state; a waiter of a later step is
  # answered with an error. Fails naming the file if this shard's file of
  # that checkpoint is missing or corrupt. The chief has every shard restore
  # the same one (worker/shard_setup.h).
  restoreCheckpoint @7 (checkpointStep :Int64 = -1) -> (checkpointStep :Int64, globalStep :Int64);
  # Complete checkpoints (newest first) and the one restored (-1: none).
  checkpointStatus @8 () -> (complete :List(Int64), restored :Int64);

  stats @9 () -> (stats :ShardStats);

  # Creates embedding tables; a table that exists with the same definition is
  # kept (created = false), another definition under its name is refused.
  createTables @12 (tables :List(TableDef)) -> (created :List(Bool));
  # Rows of keys, per request [len(keys), dim] in the order asked. train: the
  # lookup of a training step (admits, creates and touches rows, counted);
  # otherwise a read (evaluation) that changes nothing: a key without a row
  # reads its initial value. At most 2^22 keys per call.
  lookupTables @13 (requests :List(TableKeys), train :Bool) -> (rows :List(Tensor), globalStep :Int64);
}

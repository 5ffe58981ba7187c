#include "ps/parameter_server_impl.h"

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>

#include <kj/debug.h>
#include <spdlog/spdlog.h>

#include "core/memory_tuning.h"
#include "core/thread_pool.h"
#include "core/trace.h"
#include "net/pool_bridge.h"
#include "net/config_wire.h"
#include "net/ps.capnp.h"
#include "net/rpc_server.h"
#include "net/tensor_codec.h"
#include "ps/parameter_shard.h"
#include "ps/shard_monitor.h"

namespace flowps::ps {
namespace {

// A failed call whose message carries the Status (code and text) to the client.
[[noreturn]] void Fail(const Status& st) {
  kj::throwFatalException(KJ_EXCEPTION(FAILED, st.ToString()));
}

template <typename T>
T ValueOrFail(StatusOr<T> v) {
  if (!v.ok()) Fail(v.status());
  return std::move(*v);
}

void CheckOrFail(const Status& st) {
  if (!st.ok()) Fail(st);
}

wire::PushOutcome ToWire(PushOutcome o) {
  switch (o) {
    case PushOutcome::kAccepted: return wire::PushOutcome::ACCEPTED;
    case PushOutcome::kApplied: return wire::PushOutcome::APPLIED;
    case PushOutcome::kDuplicate: return wire::PushOutcome::DUPLICATE;
    case PushOutcome::kStale: return wire::PushOutcome::STALE;
  }
  return wire::PushOutcome::STALE;
}

// The name of a traced push's offer span: what the update rule did with it.
const char* OfferSpanName(PushOutcome o) {
  switch (o) {
    case PushOutcome::kAccepted: return "aggregate";
    case PushOutcome::kApplied: return "apply";
    case PushOutcome::kDuplicate: return "duplicate";
    case PushOutcome::kStale: return "stale";
  }
  return "offer";
}

std::vector<Gradient> CloneGradients(const std::vector<Gradient>& grads) {
  std::vector<Gradient> out;
  for (const Gradient& g : grads)
    out.push_back(Gradient{g.variable, g.values.Clone(), g.indices.valid() ? g.indices.Clone() : Tensor()});
  return out;
}

// A callback that runs either at once (on this thread, before `start`
// returns) or later on any thread, as a promise on this thread's loop: the
// first case costs no cross-thread wake-up (nor a wake-up of this loop by
// itself: the unused cross-thread promise is dropped before its fulfiller, so
// that dropping the fulfiller does not signal the loop).
template <typename T>
kj::Promise<T> AwaitCallback(const std::function<void(std::function<void(T)>)>& start) {
  struct State {
    std::mutex mu;
    bool returned = false;  // guarded by mu
    std::optional<T> value;  // guarded by mu
    kj::Own<kj::CrossThreadPromiseFulfiller<T>> fulfiller;
  };
  auto paf = kj::newPromiseAndCrossThreadFulfiller<T>();
  auto state = std::make_shared<State>();
  state->fulfiller = kj::mv(paf.fulfiller);
  start([state](T v) {
    std::unique_lock<std::mutex> lock(state->mu);
    if (!state->returned) {
      state->value = std::move(v);
      return;
    }
    lock.unlock();
    state->fulfiller->fulfill(std::move(v));
  });
  std::lock_guard<std::mutex> lock(state->mu);
  state->returned = true;
  if (!state->value) return kj::mv(paf.promise);
  kj::Promise<T> ready(std::move(*state->value));
  { auto unused = kj::mv(paf.promise); }
  state->fulfiller = nullptr;
  return ready;
}

// The gradients of a push, read in place from the request (zero copy).
StatusOr<std::vector<Gradient>> ReadGradients(capnp::List<wire::Gradient>::Reader in) {
  std::vector<Gradient> grads;
  for (auto g : in) {
    const std::string name = g.getVariable();
    const std::string what = "push of '" + name + "'";
    FLOWPS_ASSIGN_OR_RETURN(Tensor values, ReadTensor(g.getValues(), nullptr, what));
    Gradient grad{name, std::move(values), Tensor()};
    if (g.getSparse()) {
      FLOWPS_ASSIGN_OR_RETURN(grad.indices, ReadTensor(g.getIndices(), nullptr, what + " (indices)"));
    }
    grads.push_back(std::move(grad));
  }
  return grads;
}

size_t GradientBytes(const std::vector<Gradient>& grads) {
  size_t bytes = 0;
  for (const Gradient& g : grads) bytes += g.values.num_bytes() + (g.indices.valid() ? g.indices.num_bytes() : 0);
  return bytes;
}

// What a pull, a pullRows or a pushPull reads: whole parts, then rows of
// parts, then (pushPull) rows of embedding tables by key.
struct ReadRequest {
  struct Rows {
    std::string variable;
    Tensor indices;  // read in place from the request
  };
  std::vector<std::string> names;
  std::vector<Rows> rows;
  std::vector<TableLookup> tables;  // keys read in place from the request; checked
  bool train_tables = true;         // a training lookup (TableStore::Lookup); false: a read only
  bool bfloat16 = false;            // of the variables' values (table rows travel as float32)
};

// Where a read's tensors go in the response (any list may be empty).
struct ReadLists {
  capnp::List<wire::NamedTensor>::Builder values;
  capnp::List<wire::NamedTensor>::Builder rows;
  capnp::List<wire::Tensor>::Builder table_rows;
};

StatusOr<ReadRequest> ReadRowsRequests(capnp::List<wire::RowsRequest>::Reader in) {
  ReadRequest read;
  for (auto r : in) {
    std::string name = r.getVariable();
    FLOWPS_ASSIGN_OR_RETURN(Tensor indices, ReadTensor(r.getIndices(), nullptr, "rows of '" + name + "'"));
    read.rows.push_back(ReadRequest::Rows{std::move(name), std::move(indices)});
  }
  return read;
}

// The bytes `read` copies into a response (from the parts' immutable shapes).
StatusOr<size_t> ReadBytes(ParameterShard& shard, const ReadRequest& read) {
  size_t bytes = 0;
  for (const std::string& n : read.names) {
    FLOWPS_ASSIGN_OR_RETURN(int64_t row_bytes, shard.store().RowBytes(n));
    FLOWPS_ASSIGN_OR_RETURN(int64_t rows, shard.store().PartRows(n));
    bytes += static_cast<size_t>(row_bytes * rows);
  }
  for (const ReadRequest::Rows& r : read.rows) {
    FLOWPS_ASSIGN_OR_RETURN(int64_t row_bytes, shard.store().RowBytes(r.variable));
    bytes += static_cast<size_t>(row_bytes * r.indices.num_elements());
  }
  return bytes + shard.tables().LookupBytes(read.tables);
}

// Writes what `read` asks into `lists` and counts its bytes as sent; returns
// the global step read first. The values are immutable snapshots (copy-on-write,
// ps/variable_store.h) and the rows fresh copies: the response references them,
// kept alive with it by `keeper` (copied where it has none).
int64_t FillRead(ParameterShard& shard, const ReadRequest& read, ReadLists lists, ShardMonitor& monitor,
                 ResponseKeeper* keeper) {
  uint64_t bytes = 0;
  const int64_t step = shard.rule().global_step();
  TensorWireOptions options = TensorWireOptions::Response(keeper);
  options.bfloat16 = read.bfloat16;
  for (size_t i = 0; i < read.names.size(); ++i) {
    Tensor t = ValueOrFail(shard.store().Pull(read.names[i]));
    bytes += t.num_bytes();
    auto out = lists.values[static_cast<unsigned>(i)];
    out.setName(read.names[i]);
    CheckOrFail(WriteTensor(t, out.initTensor(), options).status());
  }
  for (size_t i = 0; i < read.rows.size(); ++i) {
    const ReadRequest::Rows& r = read.rows[i];
    Tensor t = ValueOrFail(shard.store().PullRows(r.variable, r.indices));
    bytes += t.num_bytes();
    auto out = lists.rows[static_cast<unsigned>(i)];
    out.setName(r.variable);
    CheckOrFail(WriteTensor(t, out.initTensor(), options).status());
  }
  if (!read.tables.empty()) {  // at the step read first, as a lookupTables call at that step would
    std::vector<Tensor> rows = shard.tables().Lookup(read.tables, read.train_tables, step);
    for (size_t i = 0; i < rows.size(); ++i) {
      bytes += rows[i].num_bytes();
      CheckOrFail(WriteTensor(rows[i], lists.table_rows[static_cast<unsigned>(i)], TensorWireOptions::Copying()).status());
    }
  }
  monitor.AddSentBytes(bytes);
  return step;
}

// An embedding table request's tensors, read in place from the request.
StatusOr<std::vector<TableGradient>> ReadTableGradients(capnp::List<wire::TableGradient>::Reader in) {
  if (in.size() > kMaxTablesPerCall)
    return InvalidArgument("push: gradients of " + std::to_string(in.size()) + " tables, more than " +
                           std::to_string(kMaxTablesPerCall));
  std::vector<TableGradient> grads;
  for (auto g : in) {
    const std::string table = g.getTable();
    const std::string what = "push of table '" + table + "'";
    FLOWPS_ASSIGN_OR_RETURN(Tensor keys, ReadTensor(g.getKeys(), nullptr, what + " (keys)"));
    FLOWPS_ASSIGN_OR_RETURN(Tensor values, ReadTensor(g.getValues(), nullptr, what));
    grads.push_back(TableGradient{table, std::move(keys), std::move(values)});
  }
  return grads;
}

StatusOr<std::vector<TableLookup>> ReadTableLookups(capnp::List<wire::TableKeys>::Reader in) {
  if (in.size() > kMaxTablesPerCall)
    return InvalidArgument("lookup: " + std::to_string(in.size()) + " tables, more than " +
                           std::to_string(kMaxTablesPerCall));
  std::vector<TableLookup> lookups;
  for (auto r : in) {
    const std::string table = r.getTable();
    FLOWPS_ASSIGN_OR_RETURN(Tensor keys, ReadTensor(r.getKeys(), nullptr, "lookup of table '" + table + "'"));
    lookups.push_back(TableLookup{table, std::move(keys)});
  }
  return lookups;
}

size_t TableBytes(const std::vector<TableGradient>& grads) {
  size_t bytes = 0;
  for (const TableGradient& g : grads) bytes += g.keys.num_bytes() + g.values.num_bytes();
  return bytes;
}

// The shard's config from the job's (net/config_wire.h reads the wire).
StatusOr<ShardConfig> ShardConfigFromWire(wire::ShardConfig::Reader in, int shard, int num_shards) {
  StatusOr<PsJobConfig> job = ReadShardConfig(in);
  if (!job.ok()) return job.status().WithContext("configure");
  ShardConfig c;
  c.shard = shard;
  c.num_shards = num_shards;
  c.mode = job->mode;
  c.sync.replicas_to_aggregate = job->replicas_to_aggregate;
  c.sync.total_workers = c.async.total_workers = job->total_workers;
  c.async.max_staleness = job->max_staleness;
  c.async.policy = job->staleness_policy;
  c.optimizer = job->optimizer;
  c.checkpoint_dir = job->checkpoint_dir;
  c.keep_checkpoints = job->keep_checkpoints;
  c.table_full_every = job->table_full_every;
  c.job_id = job->job_id;
  FLOWPS_RETURN_IF_ERROR(c.Validate().WithContext("configure"));
  return c;
}

class ParameterServerImpl final : public wire::ParameterServer::Server {
 public:
  ParameterServerImpl(ServiceEnv& env, int shard, int num_shards, std::shared_ptr<spdlog::logger> log,
                      ParameterServerOptions options)
      : pool_(env.pool), timer_(env.timer), keeper_(env.keeper), shard_index_(shard), num_shards_(num_shards), log_(std::move(log)),
        options_(options), monitor_(options_.monitor ? options_.monitor : std::make_shared<ShardMonitor>()) {
    if (options_.idle_release_after.count() > 0) idle_watch_ = WatchIdle().eagerlyEvaluate(nullptr);
  }

  // The same config (job id included) again is a no-op; another one (a new
  // job) opens a new shard that replaces this one once it opened (its
  // variables and step go; calls still running keep the old one alive).
  kj::Promise<void> configure(ConfigureContext context) override {
    ShardConfig config = ValueOrFail(ShardConfigFromWire(context.getParams().getConfig(), shard_index_, num_shards_));
    config.test_pause_before_rename_ms = options_.test_pause_before_rename_ms;
    KJ_REQUIRE(!configuring_, "configure: this ps shard is being configured by another call");
    if (shard_ != nullptr && shard_->config() == config) {
      FillConfigured(context);
      return kj::READY_NOW;
    }
    configuring_ = true;
    ThreadPool* pool = &pool_;
    auto log = log_;
    return RunOnPool(pool_, [config, pool, log]() { return ParameterShard::Open(config, pool, log); })
        .then(
            [this, context](StatusOr<std::unique_ptr<ParameterShard>> opened) mutable {
              configuring_ = false;
              std::shared_ptr<ParameterShard> next = ValueOrFail(std::move(opened));
              if (shard_ != nullptr)
                log_->info("a new job (id '{}') replaces job '{}': its {} variable parts at step {} are dropped",
                           next->config().job_id, shard_->config().job_id, shard_->store().Names().size(),
                           shard_->rule().global_step());
              shard_ = std::move(next);
              pending_.clear();
              monitor_->SetShard(shard_);
              log_->info("configured: {} mode, optimizer {}, checkpoints in '{}'",
                         TrainingModeName(shard_->config().mode),
                         OptimizerKindName(shard_->config().optimizer.kind), shard_->config().checkpoint_dir);
              FillConfigured(context);
            },
            [this](kj::Exception&& e) {
              configuring_ = false;
              kj::throwFatalException(kj::mv(e));
            });
  }

  kj::Promise<void> createVariables(CreateVariablesContext context) override {
    // A list of near-empty structs costs a peer a few bytes per element but a
    // VariableSpec here: a call may name at most kMaxVariablesPerCall (found by
    // fuzz_ps_service: millions of empty entries grew this vector to 2 GiB).
    constexpr unsigned kMaxVariablesPerCall = 1u << 16;
    auto defs = context.getParams().getVariables();
    if (defs.size() > kMaxVariablesPerCall)
      Fail(InvalidArgument("createVariables: " + std::to_string(defs.size()) + " variables in one call, more than " +
                           std::to_string(kMaxVariablesPerCall)));
    std::vector<VariableSpec> specs;
    specs.reserve(defs.size());
    for (auto def : defs) {
      VariableSpec spec;
      spec.name = def.getName();
      std::vector<int64_t> dims;
      for (int64_t d : def.getFullShape()) dims.push_back(d);
      spec.full_shape = Shape(std::move(dims));
      spec.row_begin = def.getRowBegin();
      spec.row_end = def.getRowEnd();
      StatusOr<kernels::InitializerSpec> init = ReadInitializer(def.getInitializer());
      if (!init.ok()) Fail(init.status().WithContext("variable '" + spec.name + "'"));
      spec.initializer = *init;
      specs.push_back(std::move(spec));
    }
    std::shared_ptr<ParameterShard> shard = SharedShard();
    return Busy<void>(RunOnPool(pool_, [shard, specs = std::move(specs)]() {
             std::vector<bool> created;
             for (const VariableSpec& spec : specs) {
               bool c = false;
               CheckOrFail(shard->store().Create(spec, &c));
               created.push_back(c);
             }
             return created;
           })
        .then([this, context](std::vector<bool> created) mutable {
          auto out = context.getResults().initCreated(static_cast<unsigned>(created.size()));
          for (size_t i = 0; i < created.size(); ++i) out.set(static_cast<unsigned>(i), created[i]);
          context.getResults().setGlobalStep(Shard().rule().global_step());
        }));
  }

  kj::Promise<void> pull(PullContext context) override {
    ReadRequest read;
    for (auto n : context.getParams().getNames()) read.names.push_back(n);
    read.bfloat16 = context.getParams().getBfloat16();
    // The response message is made here, on the loop; the pool fills it while
    // the loop does not touch it, and the loop sends it after the promise resolves.
    auto results = context.getResults();
    ReadLists lists{results.initTensors(static_cast<unsigned>(read.names.size())), {}};
    return Busy<void>(Read(std::make_shared<const ReadRequest>(std::move(read)), lists)
        .then([results](int64_t step) mutable { results.setGlobalStep(step); }));
  }

  kj::Promise<void> pullRows(PullRowsContext context) override {
    ReadRequest read = ValueOrFail(ReadRowsRequests(context.getParams().getRequests()));
    read.bfloat16 = context.getParams().getBfloat16();
    auto results = context.getResults();
    ReadLists lists{{}, results.initTensors(static_cast<unsigned>(read.rows.size()))};
    return Busy<void>(Read(std::make_shared<const ReadRequest>(std::move(read)), lists)
        .then([results](int64_t step) mutable { results.setGlobalStep(step); }));
  }

  kj::Promise<void> push(PushContext context) override {
    auto params = context.getParams();
    std::vector<Gradient> grads = ValueOrFail(ReadGradients(params.getGradients()));
    const size_t received = GradientBytes(grads);
    monitor_->AddReceivedBytes(received);
    const bool on_loop = received < options_.inline_below_bytes;
    return Busy<void>(Receive(PushId{params.getWorker(), params.getStep(), params.getSeq()}, params.getPart(), params.getParts(),
                              std::move(grads), on_loop)
        .then([this, context](kj::Maybe<PushResult> whole) mutable {
          auto out = context.getResults();
          KJ_IF_MAYBE(r, whole) {
            out.setOutcome(ToWire(r->outcome));
            out.setGlobalStep(r->global_step);
            out.setComplete(true);
          } else {
            out.setOutcome(wire::PushOutcome::ACCEPTED);
            out.setGlobalStep(Shard().rule().global_step());
            out.setComplete(false);
          }
        }));
  }

  kj::Promise<void> pushPull(PushPullContext context) override {
    auto params = context.getParams();
    std::vector<Gradient> grads = ValueOrFail(ReadGradients(params.getGradients()));
    auto next = params.getNext();
    ReadRequest read = ValueOrFail(ReadRowsRequests(next.getRows()));
    for (auto n : next.getNames()) read.names.push_back(n);
    read.bfloat16 = next.getBfloat16();
    std::shared_ptr<ParameterShard> shard = SharedShard();
    // Table rows are checked with the push and applied once it is taken; the
    // next batch's keys are checked with it too, and looked up with the read.
    auto table_grads = std::make_shared<const std::vector<TableGradient>>(
        ValueOrFail(ReadTableGradients(params.getTableGradients())));
    CheckOrFail(shard->tables().CheckGradients(*table_grads));
    read.tables = ValueOrFail(ReadTableLookups(params.getNextTables()));
    CheckOrFail(shard->tables().CheckLookups(read.tables));
    const size_t received = GradientBytes(grads) + TableBytes(*table_grads);
    monitor_->AddReceivedBytes(received);
    const size_t bytes = received + ValueOrFail(ReadBytes(*shard, read));
    const bool on_loop = bytes < options_.inline_below_bytes;
    auto shared_read = std::make_shared<const ReadRequest>(std::move(read));
    const int64_t step = params.getStep();
    const bool sync = shard->config().mode == TrainingMode::kSync;
    // The call's span (traced calls only), and the start of the offer under it.
    auto call_span = std::make_shared<TraceScope>(TraceOf(params.getWorker(), step, params.getTraceParent()),
                                                  "pushPull", "ps", "worker:" + std::to_string(params.getWorker()));
    const TraceContext trace = call_span->child();
    const int64_t offered_ns = trace.active() ? TraceRecorder::NowNs() : 0;
    return Busy<void>(Receive(PushId{params.getWorker(), step, params.getSeq()}, params.getPart(), params.getParts(),
                              std::move(grads), on_loop)
        .then([this, context, shard, shared_read, step, sync, on_loop, table_grads, trace, offered_ns](
                  kj::Maybe<PushResult> whole) mutable -> kj::Promise<void> {
          auto out = context.getResults();
          PushResult result;
          KJ_IF_MAYBE(r, whole) { result = *r; }
          const bool taken = whole == nullptr || result.outcome == PushOutcome::kAccepted ||
                             result.outcome == PushOutcome::kApplied;
          if (taken && !table_grads->empty()) CheckOrFail(shard->tables().Apply(*table_grads, step + 1));
          if (whole == nullptr) {  // an earlier part of a multi-part push: no values
            if (trace.active()) trace.Record("part", "ps", "", offered_ns);
            out.setOutcome(wire::PushOutcome::ACCEPTED);
            out.setGlobalStep(shard->rule().global_step());
            out.setComplete(false);
            return kj::READY_NOW;
          }
          if (trace.active()) trace.Record(OfferSpanName(result.outcome), "ps", "", offered_ns);
          out.setOutcome(ToWire(result.outcome));
          out.setComplete(true);
          if (!shared_read->tables.empty()) {
            monitor_->TableReadWithPush();
            if (result.outcome == PushOutcome::kDuplicate) {  // its first copy looked the rows up: read only
              auto read_only = std::make_shared<ReadRequest>(*shared_read);
              read_only->train_tables = false;
              shared_read = std::move(read_only);
            }
          }
          // Sync: the answer waits for the step this push counts towards (or joins).
          kj::Promise<StatusOr<int64_t>> released =
              sync ? WaitingForRelease(AwaitCallback<StatusOr<int64_t>>([&](StepClock::Callback done) {
                       shard->rule().WaitForStep(step + 1, std::move(done));
                     }))
                   : kj::Promise<StatusOr<int64_t>>(StatusOr<int64_t>(result.global_step));
          const auto waiting_since = std::chrono::steady_clock::now();
          const int64_t waiting_ns = trace.active() ? TraceRecorder::NowNs() : 0;
          return released.then([this, out, shared_read, on_loop, waiting_since, trace, waiting_ns, sync](
                                   StatusOr<int64_t> now) mutable {
            ValueOrFail(now);
            out.setWaitSeconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - waiting_since).count());
            if (trace.active() && sync) trace.Record("wait", "ps", "", waiting_ns);
            auto read_span = std::make_shared<TraceScope>(trace, "read", "ps");
            ReadLists lists{out.initValues(static_cast<unsigned>(shared_read->names.size())),
                            out.initRows(static_cast<unsigned>(shared_read->rows.size())),
                            out.initTableRows(static_cast<unsigned>(shared_read->tables.size()))};
            return Read(shared_read, lists, on_loop).then([out, read_span](int64_t now) mutable {
              read_span->End();
              out.setGlobalStep(now);
            });
          });
        }).attach(kj::mv(call_span)));
  }

  kj::Promise<void> waitForStep(WaitForStepContext context) override {
    std::shared_ptr<ParameterShard> shard = SharedShard();
    const int64_t step = context.getParams().getStep();
    return AwaitCallback<StatusOr<int64_t>>([&](StepClock::Callback done) {
             shard->rule().WaitForStep(step, std::move(done));
           })
        .then([context](StatusOr<int64_t> now) mutable { context.getResults().setGlobalStep(ValueOrFail(now)); });
  }

  kj::Promise<void> saveCheckpoint(SaveCheckpointContext context) override {
    const int64_t n = context.getParams().getCheckpointStep();
    std::shared_ptr<ParameterShard> shard = SharedShard();
    std::shared_ptr<ShardMonitor> monitor = monitor_;
    return RunOnPool(pool_, [shard, n, monitor]() {
             const auto start = std::chrono::steady_clock::now();
             CheckpointShardInfo info = ValueOrFail(shard->SaveCheckpoint(n));
             monitor->CheckpointWritten(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
             return info;
           })
        .then([this, context](CheckpointShardInfo info) mutable {
          context.getResults().setBytes(info.bytes);
          context.getResults().setGlobalStep(Shard().rule().global_step());
        });
  }

  kj::Promise<void> commitCheckpoint(CommitCheckpointContext context) override {
    const int64_t n = context.getParams().getCheckpointStep();
    std::shared_ptr<ParameterShard> shard = SharedShard();
    return RunOnPool(pool_, [shard, n]() { CheckOrFail(shard->CommitCheckpoint(n)); });
  }

  kj::Promise<void> restoreCheckpoint(RestoreCheckpointContext context) override {
    std::shared_ptr<ParameterShard> shard = SharedShard();
    const int64_t asked = context.getParams().getCheckpointStep();
    const std::optional<int64_t> step = asked < 0 ? std::nullopt : std::optional<int64_t>(asked);
    return RunOnPool(pool_, [shard, step]() { return ValueOrFail(shard->RestoreCheckpoint(step)); })
        .then([this, context](int64_t n) mutable {
          context.getResults().setCheckpointStep(n);
          context.getResults().setGlobalStep(Shard().rule().global_step());
        });
  }

  kj::Promise<void> checkpointStatus(CheckpointStatusContext context) override {
    std::shared_ptr<ParameterShard> shard = SharedShard();
    // Listing the directory is disk I/O: on the pool, never on the loop.
    return RunOnPool(pool_, [shard]() {
             const std::string& dir = shard->config().checkpoint_dir;
             return dir.empty() ? std::vector<int64_t>{} : CompleteCheckpoints(dir);
           })
        .then([shard, context](std::vector<int64_t> complete) mutable {
          auto out = context.getResults().initComplete(static_cast<unsigned>(complete.size()));
          for (size_t i = 0; i < complete.size(); ++i) out.set(static_cast<unsigned>(i), complete[i]);
          context.getResults().setRestored(shard->restored_checkpoint().value_or(-1));
        });
  }

  kj::Promise<void> stats(StatsContext context) override {
    SharedShard();  // fails until configured
    WriteShardStats(monitor_->Read(), context.getResults().initStats());
    return kj::READY_NOW;
  }

  kj::Promise<void> createTables(CreateTablesContext context) override {
    auto defs = context.getParams().getTables();
    if (defs.size() > kMaxTablesPerCall)
      Fail(InvalidArgument("createTables: " + std::to_string(defs.size()) + " tables in one call, more than " +
                           std::to_string(kMaxTablesPerCall)));
    std::vector<EmbeddingTableSpec> specs;
    for (auto def : defs) {
      StatusOr<TableConfig> config = ReadTableDef(def);
      if (!config.ok()) Fail(config.status().WithContext("createTables"));
      specs.push_back(ValueOrFail(TableSpecFromConfig(*config)));
    }
    std::shared_ptr<ParameterShard> shard = SharedShard();
    std::vector<bool> created = ValueOrFail(shard->tables().Create(specs));
    auto out = context.getResults().initCreated(static_cast<unsigned>(created.size()));
    for (size_t i = 0; i < created.size(); ++i) out.set(static_cast<unsigned>(i), created[i]);
    std::vector<std::string> fresh;
    for (size_t i = 0; i < created.size(); ++i)
      if (created[i]) {
        fresh.push_back(specs[i].name);
        log_->info("embedding table '{}' created: dim {}, optimizer {}, min_count {}, ttl_steps {}, max_rows {}",
                   specs[i].name, specs[i].dim, OptimizerKindName(specs[i].optimizer.kind), specs[i].min_count,
                   specs[i].ttl_steps, specs[i].max_rows);
      }
    if (fresh.empty() || !shard->restored_checkpoint()) return kj::READY_NOW;
    // A new table of a restored shard starts from its rows in that checkpoint (disk I/O: off the loop).
    return RunOnPool(pool_, [shard, fresh = std::move(fresh)]() {
      CheckOrFail(shard->RestoreTables(fresh).WithContext("createTables"));
    });
  }

  kj::Promise<void> lookupTables(LookupTablesContext context) override {
    auto params = context.getParams();
    std::shared_ptr<ParameterShard> shard = SharedShard();
    auto lookups = std::make_shared<const std::vector<TableLookup>>(
        ValueOrFail(ReadTableLookups(params.getRequests())));
    CheckOrFail(shard->tables().CheckLookups(*lookups));
    const bool train = params.getTrain();
    if (train) monitor_->TableLookupCall();
    const int64_t step = shard->rule().global_step();
    size_t bytes = 0;
    for (const TableLookup& l : *lookups) bytes += static_cast<size_t>(l.keys.num_elements()) * sizeof(int64_t) * 2;
    auto lookup = [shard, lookups, train, step]() { return shard->tables().Lookup(*lookups, train, step); };
    kj::Promise<std::vector<Tensor>> rows = bytes < options_.inline_below_bytes
                                                ? kj::Promise<std::vector<Tensor>>(lookup())
                                                : RunOnPool(pool_, lookup);
    return Busy<void>(rows.then([this, context, step, lookups](std::vector<Tensor> rows) mutable {
      auto out = context.getResults().initRows(static_cast<unsigned>(rows.size()));
      uint64_t sent = 0;
      for (size_t i = 0; i < rows.size(); ++i) {
        CheckOrFail(WriteTensor(rows[i], out[static_cast<unsigned>(i)], TensorWireOptions::Response(keeper_.get())).status());
        sent += rows[i].num_bytes();
      }
      monitor_->AddSentBytes(sent);
      context.getResults().setGlobalStep(step);
    }));
  }

 private:
  // What identifies a push on the wire (see PushRequest).
  struct PushId {
    int32_t worker = 0;
    int64_t step = 0;
    uint32_t seq = 0;
  };

  // The parts of a multi-part push received so far, per worker (loop thread
  // only); kept only for a worker id of the job and parts that passed the
  // shape checks, so at most one push per worker is held.
  struct Pending {
    int64_t step = -1;
    uint32_t seq = 0;
    uint32_t parts = 0;
    std::map<uint32_t, std::vector<Gradient>> received;
  };

  // Counts a call that moves tensors while it runs (see WatchIdle).
  template <typename T>
  kj::Promise<T> Busy(kj::Promise<T> call) {
    ++in_flight_;
    return call.attach(kj::defer([this]() {
      --in_flight_;
      used_ = true;
      last_done_ = timer_.now();
    }));
  }

  // Every idle_release_after: if calls ran since the last release and none
  // has run for idle_release_after, gives the free heap pages back (on the pool).
  kj::Promise<void> WatchIdle() {
    return timer_.afterDelay(options_.idle_release_after.count() * kj::MILLISECONDS)
        .then([this]() {
          const bool idle = in_flight_ == 0 &&
                            timer_.now() - last_done_ >= options_.idle_release_after.count() * kj::MILLISECONDS;
          if (used_ && idle) {
            used_ = false;
            pool_.Schedule([]() { ReleaseFreeMemory(); });
          }
          return WatchIdle();
        });
  }

  // Where a pushPull with trace parent `parent` records (inactive for 0 or without a recorder).
  TraceContext TraceOf(int32_t worker, int64_t step, uint64_t parent) {
    if (parent == 0 || options_.trace == nullptr) return {};
    TraceContext c{options_.trace, 0, parent, step};
    return c.OnTrack("pushPull worker:" + std::to_string(worker));
  }

  // A sync pushPull's wait for its step's release, counted as a waiting worker.
  kj::Promise<StatusOr<int64_t>> WaitingForRelease(kj::Promise<StatusOr<int64_t>> released) {
    monitor_->WaitBegins();
    return released.attach(kj::defer([monitor = monitor_]() { monitor->WaitEnds(); }));
  }

  // Offers a whole push to the update rule, on this loop or on the pool;
  // resolves when the rule answers (at once, or later for a held async push).
  // A push applied is timed into the monitor's apply latency.
  kj::Promise<PushResult> Offer(PushRequest request, bool on_loop) {
    std::shared_ptr<ParameterShard> shard = SharedShard();
    auto req = std::make_shared<PushRequest>(std::move(request));
    ThreadPool* pool = &pool_;
    const auto offered = std::chrono::steady_clock::now();
    return AwaitCallback<StatusOr<PushResult>>([&](UpdateRule::PushDone done) {
             if (on_loop) {
               shard->rule().Push(std::move(*req), std::move(done));
               return;
             }
             pool->Schedule([shard, req, done = std::move(done)]() { shard->rule().Push(std::move(*req), done); });
           })
        .then([monitor = monitor_, offered](StatusOr<PushResult> r) {
          if (r.ok() && r->outcome == PushOutcome::kApplied)
            monitor->ObserveApply(std::chrono::duration<double>(std::chrono::steady_clock::now() - offered).count());
          return ValueOrFail(std::move(r));
        });
  }

  // One part of a push: the whole push's result once every part is here, or
  // nothing for an earlier part (kept until the others arrive).
  kj::Promise<kj::Maybe<PushResult>> Receive(PushId id, uint32_t part, uint32_t parts, std::vector<Gradient> grads,
                                             bool on_loop) {
    parts = std::max<uint32_t>(parts, 1);
    KJ_REQUIRE(part < parts, "push part out of range", part, parts);
    auto whole = [](PushResult r) { return kj::Maybe<PushResult>(r); };
    if (parts == 1) return Offer(PushRequest{id.worker, id.step, std::move(grads), id.seq}, on_loop).then(whole);
    const int32_t worker = id.worker;

    // A multi-part push: check this part, then keep a copy of it until every part is here.
    std::shared_ptr<ParameterShard> shard = SharedShard();
    return RunOnPool(pool_,
                     [shard, worker, grads = std::move(grads)]() {
                       CheckOrFail(shard->rule().CheckWorker(worker));
                       CheckOrFail(shard->store().ValidateShapes(grads));
                       return CloneGradients(grads);
                     })
        .then([this, id, part, parts, whole](std::vector<Gradient> copy) -> kj::Promise<kj::Maybe<PushResult>> {
          Pending& p = pending_[id.worker];
          if (p.step != id.step || p.seq != id.seq || p.parts != parts) p = Pending{id.step, id.seq, parts, {}};
          p.received[part] = std::move(copy);
          if (p.received.size() < parts) return kj::Maybe<PushResult>(nullptr);
          std::vector<Gradient> all;
          for (auto& [index, part_grads] : p.received)
            for (Gradient& g : part_grads) all.push_back(std::move(g));
          pending_.erase(id.worker);
          return Offer(PushRequest{id.worker, id.step, std::move(all), id.seq}, false).then(whole);
        });
  }

  // Fills `lists` with what `read` asks, on this loop or on the pool; resolves
  // to the global step read before the values (so the values are of that step or newer).
  kj::Promise<int64_t> Read(std::shared_ptr<const ReadRequest> read, ReadLists lists, bool on_loop = false) {
    std::shared_ptr<ParameterShard> shard = SharedShard();
    if (on_loop) return FillRead(*shard, *read, lists, *monitor_, keeper_.get());
    std::shared_ptr<ShardMonitor> monitor = monitor_;
    std::shared_ptr<ResponseKeeper> keeper = keeper_;
    return RunOnPool(pool_, [shard, read, lists, monitor, keeper]() mutable {
      return FillRead(*shard, *read, lists, *monitor, keeper.get());
    });
  }

  // The shard, once configured. Set on the loop thread, replaced by a new
  // job's configure; pool jobs and running calls hold a reference, so it
  // outlives work still running at shutdown or after a new job replaced it.
  ParameterShard& Shard() { return *SharedShard(); }
  std::shared_ptr<ParameterShard> SharedShard() {
    if (shard_ == nullptr) Fail(FailedPrecondition("this ps shard is not configured yet (the chief sends configure first)"));
    return shard_;
  }

  void FillConfigured(ConfigureContext& context) {
    context.getResults().setRestoredCheckpoint(shard_->restored_checkpoint().value_or(-1));
    context.getResults().setGlobalStep(shard_->rule().global_step());
  }

  ThreadPool& pool_;
  kj::Timer& timer_;
  const std::shared_ptr<ResponseKeeper> keeper_;  // may be null: responses copy
  const int shard_index_;
  const int num_shards_;
  std::shared_ptr<spdlog::logger> log_;
  const ParameterServerOptions options_;
  const std::shared_ptr<ShardMonitor> monitor_;
  std::shared_ptr<ParameterShard> shard_;  // loop thread only
  bool configuring_ = false;               // loop thread only
  std::map<int32_t, Pending> pending_;     // loop thread only
  int in_flight_ = 0;                      // loop thread only: calls that move tensors, running
  bool used_ = false;                      // loop thread only: such a call ended since the last release
  kj::TimePoint last_done_ = kj::origin<kj::TimePoint>();  // loop thread only
  kj::Maybe<kj::Promise<void>> idle_watch_;  // last: cancelled first
};

}  // namespace

capnp::Capability::Client NewParameterServer(ServiceEnv& env, int shard, int num_shards,
                                             std::shared_ptr<spdlog::logger> log, ParameterServerOptions options) {
  return kj::heap<ParameterServerImpl>(env, shard, num_shards, std::move(log), options);
}

}  // namespace flowps::ps

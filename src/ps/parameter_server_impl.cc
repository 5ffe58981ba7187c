#include "ps/parameter_server_impl.h"

#include <map>

#include <kj/debug.h>
#include <spdlog/spdlog.h>

#include "core/thread_pool.h"
#include "net/pool_bridge.h"
#include "net/ps.capnp.h"
#include "net/rpc_server.h"
#include "net/tensor_codec.h"
#include "ps/parameter_shard.h"

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

StatusOr<kernels::InitializerSpec> ReadInitializer(wire::Initializer::Reader in, const std::string& what) {
  kernels::InitializerSpec spec;
  const std::string kind = in.getKind();
  if (!kind.empty()) {
    StatusOr<kernels::InitializerKind> k = kernels::ParseInitializerKind(kind);
    if (!k.ok()) return k.status().WithContext(what);
    spec.kind = *k;
  }
  spec.value = in.getValue();
  spec.min = in.getMin();
  spec.max = in.getMax();
  spec.mean = in.getMean();
  spec.stddev = in.getStddev();
  spec.seed = in.getSeed();
  return spec;
}

// A cross-thread fulfiller that std::function (copyable) can hold.
template <typename T>
using SharedFulfiller = std::shared_ptr<kj::Own<kj::CrossThreadPromiseFulfiller<T>>>;

template <typename T>
SharedFulfiller<T> Share(kj::Own<kj::CrossThreadPromiseFulfiller<T>> f) {
  return std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<T>>>(kj::mv(f));
}

std::vector<Gradient> CloneGradients(const std::vector<Gradient>& grads) {
  std::vector<Gradient> out;
  for (const Gradient& g : grads)
    out.push_back(Gradient{g.variable, g.values.Clone(), g.indices.valid() ? g.indices.Clone() : Tensor()});
  return out;
}

StatusOr<ShardConfig> ReadShardConfig(wire::ShardConfig::Reader in, int shard, int num_shards) {
  ShardConfig c;
  c.shard = shard;
  c.num_shards = num_shards;
  const std::string mode = in.getMode();
  if (mode == "sync")
    c.mode = TrainingMode::kSync;
  else if (mode == "async")
    c.mode = TrainingMode::kAsync;
  else
    return InvalidArgument("configure: mode must be sync or async, got '" + mode + "'");
  c.sync.replicas_to_aggregate = in.getReplicasToAggregate();
  c.sync.total_workers = c.async.total_workers = in.getTotalWorkers();
  c.async.max_staleness = in.getMaxStaleness();
  const std::string policy = in.getStalenessPolicy();
  if (policy == "wait")
    c.async.policy = StalenessPolicy::kWait;
  else if (policy == "refuse" || policy.empty())
    c.async.policy = StalenessPolicy::kRefuse;
  else
    return InvalidArgument("configure: staleness_policy must be refuse or wait, got '" + policy + "'");
  StatusOr<kernels::OptimizerKind> kind = kernels::ParseOptimizerKind(in.getOptimizer());
  if (!kind.ok()) return kind.status().WithContext("configure");
  c.optimizer.kind = *kind;
  c.optimizer.learning_rate = in.getLearningRate();
  c.optimizer.momentum = in.getMomentum();
  c.optimizer.nesterov = in.getNesterov();
  c.optimizer.beta1 = in.getBeta1();
  c.optimizer.beta2 = in.getBeta2();
  c.optimizer.epsilon = in.getEpsilon();
  c.optimizer.initial_accumulator = in.getInitialAccumulator();
  c.checkpoint_dir = in.getCheckpointDir();
  c.keep_checkpoints = in.getKeepCheckpoints();
  c.test_pause_before_rename_ms = in.getTestPauseBeforeRenameMs();
  FLOWPS_RETURN_IF_ERROR(c.Validate().WithContext("configure"));
  return c;
}

class ParameterServerImpl final : public wire::ParameterServer::Server {
 public:
  ParameterServerImpl(ServiceEnv& env, int shard, int num_shards, std::shared_ptr<spdlog::logger> log)
      : pool_(env.pool), shard_index_(shard), num_shards_(num_shards), log_(std::move(log)) {}

  kj::Promise<void> configure(ConfigureContext context) override {
    ShardConfig config = ValueOrFail(ReadShardConfig(context.getParams().getConfig(), shard_index_, num_shards_));
    if (shard_ != nullptr || configuring_) {
      KJ_REQUIRE(!configuring_, "configure: this ps shard is being configured by another call");
      if (!(shard_->config() == config))
        Fail(FailedPrecondition("configure: this ps shard runs another configuration already (restart it to change)"));
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
              shard_ = ValueOrFail(std::move(opened));
              log_->info("configured: {} mode, optimizer {}, checkpoints in '{}'",
                         shard_->config().mode == TrainingMode::kSync ? "sync" : "async",
                         kernels::OptimizerKindName(shard_->config().optimizer.kind), shard_->config().checkpoint_dir);
              FillConfigured(context);
            },
            [this](kj::Exception&& e) {
              configuring_ = false;
              kj::throwFatalException(kj::mv(e));
            });
  }

  kj::Promise<void> createVariables(CreateVariablesContext context) override {
    std::vector<VariableSpec> specs;
    for (auto def : context.getParams().getVariables()) {
      VariableSpec spec;
      spec.name = def.getName();
      std::vector<int64_t> dims;
      for (int64_t d : def.getFullShape()) dims.push_back(d);
      spec.full_shape = Shape(std::move(dims));
      spec.row_begin = def.getRowBegin();
      spec.row_end = def.getRowEnd();
      spec.initializer = ValueOrFail(ReadInitializer(def.getInitializer(), "variable '" + spec.name + "'"));
      specs.push_back(std::move(spec));
    }
    std::shared_ptr<ParameterShard> shard = SharedShard();
    return RunOnPool(pool_, [shard, specs = std::move(specs)]() {
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
        });
  }

  kj::Promise<void> pull(PullContext context) override {
    std::vector<std::string> names;
    for (auto n : context.getParams().getNames()) names.push_back(n);
    const bool bf16 = context.getParams().getBfloat16();
    // The response message is made here, on the loop; the pool fills it while
    // the loop does not touch it, and the loop sends it after the promise resolves.
    auto results = context.getResults();
    auto list = results.initTensors(static_cast<unsigned>(names.size()));
    std::shared_ptr<ParameterShard> shard = SharedShard();
    return RunOnPool(pool_, [shard, names, bf16, results, list]() mutable {
      results.setGlobalStep(shard->rule().global_step());
      TensorWireOptions options = TensorWireOptions::Copying();
      options.bfloat16 = bf16;
      for (size_t i = 0; i < names.size(); ++i) {
        Tensor t = ValueOrFail(shard->store().Pull(names[i]));
        list[static_cast<unsigned>(i)].setName(names[i]);
        CheckOrFail(WriteTensor(t, list[static_cast<unsigned>(i)].initTensor(), options).status());
      }
    });
  }

  kj::Promise<void> pullRows(PullRowsContext context) override {
    struct Request {
      std::string name;
      Tensor indices;
    };
    std::vector<Request> requests;
    for (auto r : context.getParams().getRequests()) {
      std::string name = r.getVariable();
      requests.push_back(Request{name, ValueOrFail(ReadTensor(r.getIndices(), nullptr, "rows of '" + name + "'"))});
    }
    const bool bf16 = context.getParams().getBfloat16();
    auto results = context.getResults();
    auto list = results.initTensors(static_cast<unsigned>(requests.size()));
    std::shared_ptr<ParameterShard> shard = SharedShard();
    return RunOnPool(pool_, [shard, requests, bf16, results, list]() mutable {
      results.setGlobalStep(shard->rule().global_step());
      TensorWireOptions options = TensorWireOptions::Copying();
      options.bfloat16 = bf16;
      for (size_t i = 0; i < requests.size(); ++i) {
        Tensor t = ValueOrFail(shard->store().PullRows(requests[i].name, requests[i].indices));
        list[static_cast<unsigned>(i)].setName(requests[i].name);
        CheckOrFail(WriteTensor(t, list[static_cast<unsigned>(i)].initTensor(), options).status());
      }
    });
  }

  kj::Promise<void> push(PushContext context) override {
    auto params = context.getParams();
    const int32_t worker = params.getWorker();
    const int64_t step = params.getStep();
    const uint32_t part = params.getPart(), parts = std::max<uint32_t>(params.getParts(), 1);
    KJ_REQUIRE(part < parts, "push part out of range", part, parts);
    std::vector<Gradient> grads;
    for (auto g : params.getGradients()) {
      const std::string name = g.getVariable();
      const std::string what = "push of '" + name + "'";
      Gradient grad{name, ValueOrFail(ReadTensor(g.getValues(), nullptr, what)), Tensor()};
      if (g.getSparse()) grad.indices = ValueOrFail(ReadTensor(g.getIndices(), nullptr, what + " (indices)"));
      grads.push_back(std::move(grad));
    }
    if (parts == 1) return Offer(context, PushRequest{worker, step, std::move(grads)});

    // A multi-part push: keep a copy of this part until every part is here.
    return RunOnPool(pool_, [grads = std::move(grads)]() { return CloneGradients(grads); })
        .then([this, context, worker, step, part, parts](std::vector<Gradient> copy) mutable -> kj::Promise<void> {
          Pending& p = pending_[worker];
          if (p.step != step || p.parts != parts) p = Pending{step, parts, {}};
          p.received[part] = std::move(copy);
          if (p.received.size() < parts) {
            auto results = context.getResults();
            results.setOutcome(wire::PushOutcome::ACCEPTED);
            results.setGlobalStep(Shard().rule().global_step());
            results.setComplete(false);
            return kj::READY_NOW;
          }
          std::vector<Gradient> all;
          for (auto& [index, part_grads] : p.received)
            for (Gradient& g : part_grads) all.push_back(std::move(g));
          pending_.erase(worker);
          return Offer(context, PushRequest{worker, step, std::move(all)});
        });
  }

  kj::Promise<void> waitForStep(WaitForStepContext context) override {
    auto paf = kj::newPromiseAndCrossThreadFulfiller<int64_t>();
    SharedFulfiller<int64_t> fulfiller = Share(kj::mv(paf.fulfiller));
    Shard().rule().WaitForStep(context.getParams().getStep(),
                              [fulfiller](int64_t now) { (*fulfiller)->fulfill(kj::cp(now)); });
    return paf.promise.then([context](int64_t now) mutable { context.getResults().setGlobalStep(now); });
  }

  kj::Promise<void> saveCheckpoint(SaveCheckpointContext context) override {
    const int64_t n = context.getParams().getCheckpointStep();
    std::shared_ptr<ParameterShard> shard = SharedShard();
    return RunOnPool(pool_, [shard, n]() { return ValueOrFail(shard->SaveCheckpoint(n)); })
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
    return RunOnPool(pool_, [shard]() { return ValueOrFail(shard->RestoreCheckpoint()); })
        .then([this, context](int64_t n) mutable {
          context.getResults().setCheckpointStep(n);
          context.getResults().setGlobalStep(Shard().rule().global_step());
        });
  }

  kj::Promise<void> checkpointStatus(CheckpointStatusContext context) override {
    std::vector<int64_t> complete;
    if (!Shard().config().checkpoint_dir.empty()) complete = CompleteCheckpoints(Shard().config().checkpoint_dir);
    auto out = context.getResults().initComplete(static_cast<unsigned>(complete.size()));
    for (size_t i = 0; i < complete.size(); ++i) out.set(static_cast<unsigned>(i), complete[i]);
    context.getResults().setRestored(Shard().restored_checkpoint().value_or(-1));
    return kj::READY_NOW;
  }

  kj::Promise<void> stats(StatsContext context) override {
    const PushStats s = Shard().rule().stats();
    auto out = context.getResults().initStats();
    out.setMode(Shard().config().mode == TrainingMode::kSync ? "sync" : "async");
    out.setGlobalStep(Shard().rule().global_step());
    out.setVariables(static_cast<uint32_t>(Shard().store().Names().size()));
    out.setBytes(static_cast<uint64_t>(Shard().store().TotalBytes()));
    out.setAccepted(s.accepted);
    out.setAppliedUpdates(s.applied_updates);
    out.setStaleDropped(s.stale_dropped);
    out.setDuplicates(s.duplicates);
    out.setRefused(s.refused);
    out.setWaiting(s.waiting);
    return kj::READY_NOW;
  }

 private:
  // The parts of a multi-part push received so far, per worker (loop thread only).
  struct Pending {
    int64_t step = -1;
    uint32_t parts = 0;
    std::map<uint32_t, std::vector<Gradient>> received;
  };

  // Offers a whole push to the update rule on the pool; resolves when the rule
  // answers (at once, or later for a held async push).
  kj::Promise<void> Offer(PushContext context, PushRequest request) {
    auto paf = kj::newPromiseAndCrossThreadFulfiller<StatusOr<PushResult>>();
    SharedFulfiller<StatusOr<PushResult>> fulfiller = Share(kj::mv(paf.fulfiller));
    std::shared_ptr<ParameterShard> shard = SharedShard();
    auto req = std::make_shared<PushRequest>(std::move(request));
    pool_.Schedule([shard, req, fulfiller]() {
      shard->rule().Push(std::move(*req), [fulfiller](StatusOr<PushResult> r) { (*fulfiller)->fulfill(std::move(r)); });
    });
    return paf.promise.then([context](StatusOr<PushResult> r) mutable {
      PushResult result = ValueOrFail(std::move(r));
      auto out = context.getResults();
      out.setOutcome(ToWire(result.outcome));
      out.setGlobalStep(result.global_step);
      out.setComplete(true);
    });
  }

  // The shard, once configured. Set on the loop thread and never replaced;
  // pool jobs hold a reference, so it outlives work still running at shutdown.
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
  const int shard_index_;
  const int num_shards_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<ParameterShard> shard_;  // loop thread only
  bool configuring_ = false;               // loop thread only
  std::map<int32_t, Pending> pending_;     // loop thread only
};

}  // namespace

capnp::Capability::Client NewParameterServer(ServiceEnv& env, int shard, int num_shards,
                                             std::shared_ptr<spdlog::logger> log) {
  return kj::heap<ParameterServerImpl>(env, shard, num_shards, std::move(log));
}

}  // namespace flowps::ps

#include "net/ps_client.h"

#include <cstring>
#include <functional>

#include <kj/debug.h>

#include "core/job_spec.h"
#include "net/ps.capnp.h"
#include "net/rpc_client.h"
#include "net/tensor_codec.h"

namespace flowps {
namespace {

[[noreturn]] void Fail(const Status& st) { kj::throwFatalException(KJ_EXCEPTION(FAILED, st.ToString())); }

template <typename T>
T ValueOrFail(StatusOr<T> v) {
  if (!v.ok()) Fail(v.status());
  return std::move(*v);
}

PushReplyOutcome FromWire(wire::PushOutcome o) {
  switch (o) {
    case wire::PushOutcome::ACCEPTED: return PushReplyOutcome::kAccepted;
    case wire::PushOutcome::APPLIED: return PushReplyOutcome::kApplied;
    case wire::PushOutcome::DUPLICATE: return PushReplyOutcome::kDuplicate;
    case wire::PushOutcome::STALE: return PushReplyOutcome::kStale;
  }
  return PushReplyOutcome::kStale;
}

// Rows `positions` of `values` (a gather copy, unless they are all rows in order).
Tensor GatherRows(const Tensor& values, const std::vector<int64_t>& positions) {
  bool identity = static_cast<int64_t>(positions.size()) == values.shape().dim(0);
  for (size_t i = 0; identity && i < positions.size(); ++i) identity = positions[i] == static_cast<int64_t>(i);
  if (identity) return values;
  std::vector<int64_t> dims = values.shape().dims();
  dims[0] = static_cast<int64_t>(positions.size());
  Tensor out(values.dtype(), Shape(dims));
  const size_t row_bytes = values.shape().dim(0) == 0 ? 0 : values.num_bytes() / static_cast<size_t>(values.shape().dim(0));
  for (size_t i = 0; i < positions.size(); ++i)
    std::memcpy(static_cast<char*>(out.raw_data()) + i * row_bytes,
                static_cast<const char*>(values.raw_data()) + static_cast<size_t>(positions[i]) * row_bytes, row_bytes);
  return out;
}

}  // namespace

const char* PushReplyOutcomeName(PushReplyOutcome outcome) {
  switch (outcome) {
    case PushReplyOutcome::kAccepted: return "accepted";
    case PushReplyOutcome::kApplied: return "applied";
    case PushReplyOutcome::kDuplicate: return "duplicate";
    case PushReplyOutcome::kStale: return "stale";
  }
  return "unknown";
}

PsJobConfig PsJobConfigFromJobSpec(const JobSpec& job) {
  PsJobConfig c;
  c.mode = TrainingModeName(job.mode.mode);
  c.replicas_to_aggregate = job.mode.replicas_to_aggregate;
  c.total_workers = job.mode.total_workers;
  c.max_staleness = job.mode.max_staleness;
  c.staleness_policy = job.mode.staleness_wait ? "wait" : "refuse";
  c.optimizer = OptimizerKindName(job.optimizer.kind);
  c.learning_rate = job.optimizer.learning_rate;
  c.momentum = job.optimizer.momentum;
  c.nesterov = job.optimizer.nesterov;
  c.beta1 = job.optimizer.beta1;
  c.beta2 = job.optimizer.beta2;
  c.epsilon = job.optimizer.epsilon;
  c.initial_accumulator = job.optimizer.initial_accumulator;
  c.checkpoint_dir = job.checkpoint.dir;
  c.keep_checkpoints = job.checkpoint.keep;
  c.checkpoint_every_steps = job.checkpoint.every_steps;
  c.checkpoint_every_seconds = job.checkpoint.every_seconds;
  return c;
}

// One gradient for one part, ready for the wire.
struct PartGradient {
  std::string variable;
  Tensor values;
  Tensor indices;  // sparse only
};

// A push split by shard; shared by the shards' (re)tries.
struct PsClient::PushJob {
  int32_t worker = 0;
  std::vector<int64_t> steps;                        // per shard
  std::vector<std::vector<PartGradient>> per_shard;  // per shard
};

namespace {

// `call()` again, on a new connection, while it fails because the connection
// broke, `attempts` in all. Only for calls that are safe to repeat.
template <typename T>
kj::Promise<T> AgainOnBreak(std::function<kj::Promise<T>()> call, int attempts) {
  return call().catch_([call, attempts](kj::Exception&& e) mutable -> kj::Promise<T> {
    if (e.getType() == kj::Exception::Type::DISCONNECTED && attempts > 1) return AgainOnBreak(kj::mv(call), attempts - 1);
    return kj::mv(e);
  });
}

}  // namespace

// One shard: its connection and its "ps" capability (made again after a break).
struct PsClient::Shard {
  Shard(kj::AsyncIoContext& io, RpcClientOptions options) : client(io, std::move(options)) {}

  kj::Promise<wire::ParameterServer::Client> Get() {
    KJ_IF_MAYBE(c, cap) { return *c; }
    return client.GetService("ps").then([this](capnp::Capability::Client c) {
      auto ps = c.castAs<wire::ParameterServer>();
      cap = ps;
      return ps;
    });
  }

  // `promise` under the call deadline; a broken connection forgets the capability.
  template <typename T>
  kj::Promise<T> Call(kj::Promise<T> promise, std::string what) {
    return client.Call(kj::mv(promise), kj::mv(what)).catch_([this](kj::Exception&& e) -> kj::Promise<T> {
      if (e.getType() == kj::Exception::Type::DISCONNECTED) cap = nullptr;
      return kj::mv(e);
    });
  }

  RpcClient client;
  kj::Maybe<wire::ParameterServer::Client> cap;
};

PsClient::PsClient(kj::AsyncIoContext& io, PsClientOptions options, PartitionPlan plan)
    : options_(std::move(options)), plan_(std::move(plan)) {
  KJ_REQUIRE(static_cast<size_t>(plan_.num_shards) == options_.shard_addresses.size(),
             "the partition plan and the ps addresses disagree on the number of shards");
  for (const std::string& address : options_.shard_addresses) {
    RpcClientOptions o;
    o.address = address;
    o.token = options_.token;
    o.connect_timeout = options_.connect_timeout;
    o.call_timeout = options_.call_timeout;
    shards_.push_back(std::make_unique<Shard>(io, std::move(o)));
  }
}

PsClient::~PsClient() = default;

void PsClient::Disconnect() {
  for (auto& s : shards_) {
    s->cap = nullptr;
    s->client.Disconnect();
  }
}

kj::Promise<std::vector<int64_t>> PsClient::Configure(PsJobConfig config) {
  kj::Vector<kj::Promise<int64_t>> calls;
  for (int k = 0; k < num_shards(); ++k) {
    Shard* s = shard(k).get();
    calls.add(s->Get().then([s, config](wire::ParameterServer::Client ps) {
      auto request = ps.configureRequest();
      auto c = request.initConfig();
      c.setMode(config.mode);
      c.setReplicasToAggregate(config.replicas_to_aggregate);
      c.setTotalWorkers(config.total_workers);
      c.setMaxStaleness(config.max_staleness);
      c.setStalenessPolicy(config.staleness_policy);
      c.setOptimizer(config.optimizer);
      c.setLearningRate(config.learning_rate);
      c.setMomentum(config.momentum);
      c.setNesterov(config.nesterov);
      c.setBeta1(config.beta1);
      c.setBeta2(config.beta2);
      c.setEpsilon(config.epsilon);
      c.setInitialAccumulator(config.initial_accumulator);
      c.setCheckpointDir(config.checkpoint_dir);
      c.setKeepCheckpoints(config.keep_checkpoints);
      c.setTestPauseBeforeRenameMs(config.test_pause_before_rename_ms);
      return s->Call(request.send(), "configure").then([](capnp::Response<wire::ParameterServer::ConfigureResults>&& r) {
        return r.getRestoredCheckpoint();
      });
    }));
  }
  return kj::joinPromises(calls.releaseAsArray()).then([](kj::Array<int64_t> r) {
    return std::vector<int64_t>(r.begin(), r.end());
  });
}

kj::Promise<int> PsClient::CreateVariables(std::map<std::string, InitializerDef> inits) {
  kj::Vector<kj::Promise<int>> calls;
  for (int k = 0; k < num_shards(); ++k) {
    Shard* s = shard(k).get();
    calls.add(s->Get().then([this, s, k, inits](wire::ParameterServer::Client ps) {
      auto request = ps.createVariablesRequest();
      std::vector<std::pair<const VariablePlacement*, const VariablePart*>> mine;
      for (const VariablePlacement& v : plan_.variables)
        for (const VariablePart& p : v.parts)
          if (p.shard == k) mine.emplace_back(&v, &p);
      auto defs = request.initVariables(static_cast<unsigned>(mine.size()));
      for (size_t i = 0; i < mine.size(); ++i) {
        auto [v, p] = mine[i];
        auto def = defs[static_cast<unsigned>(i)];
        def.setName(v->name);
        auto shape = def.initFullShape(static_cast<unsigned>(v->full_shape.rank()));
        for (int d = 0; d < v->full_shape.rank(); ++d) shape.set(static_cast<unsigned>(d), v->full_shape.dim(d));
        def.setRowBegin(p->row_begin);
        def.setRowEnd(p->row_end);
        auto it = inits.find(v->name);
        const InitializerDef init = it == inits.end() ? InitializerDef{} : it->second;
        auto w = def.initInitializer();
        w.setKind(init.kind);
        w.setValue(init.value);
        w.setMin(init.min);
        w.setMax(init.max);
        w.setMean(init.mean);
        w.setStddev(init.stddev);
        w.setSeed(init.seed);
      }
      return s->Call(request.send(), "createVariables").then([](capnp::Response<wire::ParameterServer::CreateVariablesResults>&& r) {
        int created = 0;
        for (bool c : r.getCreated()) created += c ? 1 : 0;
        return created;
      });
    }));
  }
  return kj::joinPromises(calls.releaseAsArray()).then([](kj::Array<int> counts) {
    int total = 0;
    for (int c : counts) total += c;
    return total;
  });
}

kj::Promise<PulledVariables> PsClient::Pull(std::vector<std::string> names) {
  for (const std::string& n : names)
    if (plan_.Find(n) == nullptr) return KJ_EXCEPTION(FAILED, "pull: unknown variable '" + n + "'");
  using Response = capnp::Response<wire::ParameterServer::PullResults>;
  kj::Vector<kj::Promise<std::shared_ptr<Response>>> calls;
  for (int k = 0; k < num_shards(); ++k) {
    Shard* s = shard(k).get();
    std::vector<std::string> mine;
    for (const std::string& n : names)
      for (const VariablePart& p : plan_.Find(n)->parts)
        if (p.shard == k) mine.push_back(n);
    std::function<kj::Promise<std::shared_ptr<Response>>()> pull = [this, s, mine] {
      return s->Get().then([this, s, mine](wire::ParameterServer::Client ps) {
        auto request = ps.pullRequest();
        auto list = request.initNames(static_cast<unsigned>(mine.size()));
        for (size_t i = 0; i < mine.size(); ++i) list.set(static_cast<unsigned>(i), mine[i]);
        request.setBfloat16(options_.bfloat16);
        return s->Call(request.send(), "pull").then([](Response&& r) { return std::make_shared<Response>(kj::mv(r)); });
      });
    };
    calls.add(AgainOnBreak(kj::mv(pull), options_.push_attempts));
  }
  return kj::joinPromises(calls.releaseAsArray()).then([this, names](kj::Array<std::shared_ptr<Response>> replies) {
    PulledVariables out;
    // part tensors by (variable, shard)
    std::map<std::pair<std::string, int>, Tensor> parts;
    for (int k = 0; k < num_shards(); ++k) {
      std::shared_ptr<Response> r = replies[static_cast<size_t>(k)];
      out.shard_steps.push_back(r->getGlobalStep());
      for (auto named : r->getTensors()) {
        std::string name = named.getName();
        parts[{name, k}] = ValueOrFail(ReadTensor(named.getTensor(), r, "pulled '" + name + "'"));
      }
    }
    for (const std::string& n : names) {
      const VariablePlacement* v = plan_.Find(n);
      if (v->parts.size() == 1) {
        out.values[n] = parts.at({n, v->parts[0].shard});
        continue;
      }
      Tensor whole(DType::kFloat32, v->full_shape);
      const size_t row_bytes = whole.num_bytes() / static_cast<size_t>(std::max<int64_t>(v->rows(), 1));
      for (const VariablePart& p : v->parts) {
        const Tensor& t = parts.at({n, p.shard});
        KJ_REQUIRE(t.num_bytes() == static_cast<size_t>(p.row_end - p.row_begin) * row_bytes,
                   "a ps shard returned a part of the wrong size", n);
        std::memcpy(static_cast<char*>(whole.raw_data()) + static_cast<size_t>(p.row_begin) * row_bytes,
                    t.raw_data(), t.num_bytes());
      }
      out.values[n] = whole;
    }
    return out;
  });
}

kj::Promise<PulledVariables> PsClient::PullRows(std::string name, std::vector<int64_t> rows) {
  const VariablePlacement* v = plan_.Find(name);
  if (v == nullptr) return KJ_EXCEPTION(FAILED, "pullRows: unknown variable '" + name + "'");
  auto groups = std::make_shared<std::vector<std::vector<int64_t>>>(ValueOrFail(v->GroupRowsByPart(rows)));
  using Response = capnp::Response<wire::ParameterServer::PullRowsResults>;
  kj::Vector<kj::Promise<std::shared_ptr<Response>>> calls;
  for (int k = 0; k < num_shards(); ++k) {
    Shard* s = shard(k).get();
    std::vector<int64_t> mine;  // global row ids asked of shard k
    for (size_t p = 0; p < v->parts.size(); ++p)
      if (v->parts[p].shard == k)
        for (int64_t pos : (*groups)[p]) mine.push_back(rows[static_cast<size_t>(pos)]);
    calls.add(s->Get().then([this, s, name, mine](wire::ParameterServer::Client ps) {
      auto request = ps.pullRowsRequest();
      request.setBfloat16(options_.bfloat16);
      Tensor indices = Tensor::FromVector<int64_t>({static_cast<int64_t>(mine.size())}, mine);
      auto reqs = request.initRequests(mine.empty() ? 0 : 1);
      if (!mine.empty()) {
        reqs[0].setVariable(name);
        ValueOrFail(WriteTensor(indices, reqs[0].initIndices(), TensorWireOptions::Copying()));
      }
      return s->Call(request.send(), "pullRows").then([](Response&& r) { return std::make_shared<Response>(kj::mv(r)); });
    }));
  }
  return kj::joinPromises(calls.releaseAsArray())
      .then([this, v, name, rows, groups](kj::Array<std::shared_ptr<Response>> replies) {
        PulledVariables out;
        std::vector<int64_t> dims = v->full_shape.dims();
        dims[0] = static_cast<int64_t>(rows.size());
        Tensor result(DType::kFloat32, Shape(dims));
        const size_t row_bytes = rows.empty() ? 0 : result.num_bytes() / rows.size();
        for (int k = 0; k < num_shards(); ++k) {
          auto& r = replies[static_cast<size_t>(k)];
          out.shard_steps.push_back(r->getGlobalStep());
          if (r->getTensors().size() == 0) continue;
          Tensor t = ValueOrFail(ReadTensor(r->getTensors()[0].getTensor(), r, "rows of '" + name + "'"));
          size_t at = 0;  // shard k's rows arrive in part order, each part in the order asked
          for (size_t p = 0; p < v->parts.size(); ++p) {
            if (v->parts[p].shard != k) continue;
            for (int64_t pos : (*groups)[p]) {
              KJ_REQUIRE((at + 1) * row_bytes <= t.num_bytes(), "a ps shard returned too few rows", name);
              std::memcpy(static_cast<char*>(result.raw_data()) + static_cast<size_t>(pos) * row_bytes,
                          static_cast<const char*>(t.raw_data()) + at * row_bytes, row_bytes);
              ++at;
            }
          }
        }
        out.values[name] = result;
        return out;
      });
}

kj::Promise<std::vector<ShardPushReply>> PsClient::Push(int32_t worker, std::vector<int64_t> shard_steps,
                                                        std::vector<VariableGradient> grads) {
  if (shard_steps.size() != static_cast<size_t>(num_shards()))
    return KJ_EXCEPTION(FAILED, "push: need one step per ps shard");
  // Split every gradient into its parts, before sending anything.
  auto job = std::make_shared<PushJob>();
  job->worker = worker;
  job->steps = std::move(shard_steps);
  job->per_shard.resize(static_cast<size_t>(num_shards()));
  for (const VariableGradient& g : grads) {
    const VariablePlacement* v = plan_.Find(g.variable);
    if (v == nullptr) return KJ_EXCEPTION(FAILED, "push: unknown variable '" + g.variable + "'");
    if (!g.sparse) {
      Status st = g.values.Check(DType::kFloat32, v->full_shape, "push of '" + g.variable + "'");
      if (!st.ok()) return KJ_EXCEPTION(FAILED, st.ToString());
      for (const VariablePart& p : v->parts)
        job->per_shard[static_cast<size_t>(p.shard)].push_back(PartGradient{
            g.variable, v->full_shape.rank() == 0 ? g.values : g.values.Slice(p.row_begin, p.row_end), Tensor()});
      continue;
    }
    if (!g.values.valid() || g.values.shape().rank() < 1 ||
        g.values.shape().dim(0) != static_cast<int64_t>(g.rows.size()))
      return KJ_EXCEPTION(FAILED, "push of '" + g.variable + "': sparse values need one row per row id");
    StatusOr<std::vector<std::vector<int64_t>>> groups = v->GroupRowsByPart(g.rows);
    if (!groups.ok()) return KJ_EXCEPTION(FAILED, groups.status().ToString());
    for (size_t p = 0; p < v->parts.size(); ++p) {
      const std::vector<int64_t>& positions = (*groups)[p];
      if (positions.empty()) continue;
      std::vector<int64_t> ids;
      for (int64_t pos : positions) ids.push_back(g.rows[static_cast<size_t>(pos)]);
      job->per_shard[static_cast<size_t>(v->parts[p].shard)].push_back(PartGradient{
          g.variable, GatherRows(g.values, positions), Tensor::FromVector<int64_t>({static_cast<int64_t>(ids.size())}, ids)});
    }
  }
  kj::Vector<kj::Promise<ShardPushReply>> calls;
  for (int k = 0; k < num_shards(); ++k) calls.add(SendShardPush(job, k, 0));
  return kj::joinPromises(calls.releaseAsArray()).then([](kj::Array<ShardPushReply> replies) {
    return std::vector<ShardPushReply>(replies.begin(), replies.end());
  });
}

kj::Promise<ShardPushReply> PsClient::SendShardPush(std::shared_ptr<const PushJob> job, int k, int attempt) {
  // The shard's push as messages of bounded size.
  const std::vector<PartGradient>& mine = job->per_shard[static_cast<size_t>(k)];
  std::vector<std::vector<const PartGradient*>> messages(1);
  size_t big = 0, bytes = 0;
  const size_t copy_below = TensorWireOptions().copy_below_bytes;
  for (const PartGradient& g : mine) {
    const size_t b = g.values.num_bytes();
    const bool is_big = b >= copy_below;
    if (!messages.back().empty() &&
        ((is_big && big + 1 > options_.max_tensors_per_message) || bytes + b > options_.max_message_bytes)) {
      messages.emplace_back();
      big = bytes = 0;
    }
    messages.back().push_back(&g);
    big += is_big ? 1 : 0;
    bytes += b;
  }
  Shard* s = shard(k).get();
  return s->Get()
      .then([this, s, k, job, messages](wire::ParameterServer::Client ps) {
        kj::Vector<kj::Promise<ShardPushReply>> calls;
        TensorWireOptions wire_options;
        wire_options.bfloat16 = options_.bfloat16;
        for (size_t m = 0; m < messages.size(); ++m) {
          auto request = ps.pushRequest();
          request.setWorker(job->worker);
          request.setStep(job->steps[static_cast<size_t>(k)]);
          request.setPart(static_cast<uint32_t>(m));
          request.setParts(static_cast<uint32_t>(messages.size()));
          auto list = request.initGradients(static_cast<unsigned>(messages[m].size()));
          std::vector<Tensor> kept;  // referenced by the request until the response arrives
          for (size_t i = 0; i < messages[m].size(); ++i) {
            const PartGradient& g = *messages[m][i];
            auto out = list[static_cast<unsigned>(i)];
            out.setVariable(g.variable);
            kept.push_back(ValueOrFail(WriteTensor(g.values, out.initValues(), wire_options)));
            if (g.indices.valid()) {
              out.setSparse(true);
              kept.push_back(ValueOrFail(WriteTensor(g.indices, out.initIndices(), TensorWireOptions())));
            }
          }
          calls.add(s->Call(request.send(), "push to ps shard " + std::to_string(k))
                        .then([](capnp::Response<wire::ParameterServer::PushResults>&& r) {
                          // Only the part that completed the push carries its outcome.
                          return ShardPushReply{FromWire(r.getOutcome()), r.getComplete() ? r.getGlobalStep() : -1};
                        })
                        .attach(kj::mv(kept), job));
        }
        return kj::joinPromises(calls.releaseAsArray());
      })
      .then([](kj::Array<ShardPushReply> replies) {
        for (const ShardPushReply& r : replies)
          if (r.global_step >= 0) return r;
        return replies[replies.size() - 1];
      })
      .catch_([this, job, k, attempt](kj::Exception&& e) -> kj::Promise<ShardPushReply> {
        // A broken connection: the push may or may not have landed. The shard
        // recognises a second copy of (worker, step), so sending it again is safe.
        if (e.getType() == kj::Exception::Type::DISCONNECTED && attempt + 1 < options_.push_attempts)
          return SendShardPush(job, k, attempt + 1);
        return kj::mv(e);
      });
}

kj::Promise<std::vector<int64_t>> PsClient::WaitForStep(std::vector<int64_t> steps) {
  if (steps.size() != static_cast<size_t>(num_shards()))
    return KJ_EXCEPTION(FAILED, "waitForStep: need one step per ps shard");
  kj::Vector<kj::Promise<int64_t>> calls;
  for (int k = 0; k < num_shards(); ++k) {
    Shard* s = shard(k).get();
    const int64_t step = steps[static_cast<size_t>(k)];
    std::function<kj::Promise<int64_t>()> wait = [s, step] {
      return s->Get().then([s, step](wire::ParameterServer::Client ps) {
        auto request = ps.waitForStepRequest();
        request.setStep(step);
        return s->Call(request.send(), "waitForStep " + std::to_string(step))
            .then([](capnp::Response<wire::ParameterServer::WaitForStepResults>&& r) { return r.getGlobalStep(); });
      });
    };
    calls.add(AgainOnBreak(kj::mv(wait), options_.push_attempts));
  }
  return kj::joinPromises(calls.releaseAsArray()).then([](kj::Array<int64_t> now) {
    return std::vector<int64_t>(now.begin(), now.end());
  });
}

kj::Promise<void> PsClient::Checkpoint(int64_t checkpoint_step) {
  kj::Vector<kj::Promise<void>> saves;
  for (int k = 0; k < num_shards(); ++k) {
    Shard* s = shard(k).get();
    saves.add(s->Get().then([s, k, checkpoint_step](wire::ParameterServer::Client ps) {
      auto request = ps.saveCheckpointRequest();
      request.setCheckpointStep(checkpoint_step);
      return s->Call(request.send(), "saveCheckpoint on shard " + std::to_string(k)).ignoreResult();
    }));
  }
  Shard* coordinator = shard(0).get();
  return kj::joinPromises(saves.releaseAsArray()).then([coordinator, checkpoint_step]() {
    return coordinator->Get().then([coordinator, checkpoint_step](wire::ParameterServer::Client ps) {
      auto request = ps.commitCheckpointRequest();
      request.setCheckpointStep(checkpoint_step);
      return coordinator->Call(request.send(), "commitCheckpoint").ignoreResult();
    });
  });
}

kj::Promise<std::vector<int64_t>> PsClient::RestoredCheckpoints() {
  kj::Vector<kj::Promise<int64_t>> calls;
  for (int k = 0; k < num_shards(); ++k) {
    Shard* s = shard(k).get();
    calls.add(s->Get().then([s](wire::ParameterServer::Client ps) {
      return s->Call(ps.checkpointStatusRequest().send(), "checkpointStatus")
          .then([](capnp::Response<wire::ParameterServer::CheckpointStatusResults>&& r) { return r.getRestored(); });
    }));
  }
  return kj::joinPromises(calls.releaseAsArray()).then([](kj::Array<int64_t> r) {
    return std::vector<int64_t>(r.begin(), r.end());
  });
}

kj::Promise<std::vector<ShardStatsReply>> PsClient::Stats() {
  kj::Vector<kj::Promise<ShardStatsReply>> calls;
  for (int k = 0; k < num_shards(); ++k) {
    Shard* s = shard(k).get();
    calls.add(s->Get().then([s](wire::ParameterServer::Client ps) {
      return s->Call(ps.statsRequest().send(), "stats").then([](capnp::Response<wire::ParameterServer::StatsResults>&& r) {
        auto w = r.getStats();
        ShardStatsReply out;
        out.mode = w.getMode();
        out.global_step = w.getGlobalStep();
        out.variables = w.getVariables();
        out.bytes = w.getBytes();
        out.accepted = w.getAccepted();
        out.applied_updates = w.getAppliedUpdates();
        out.stale_dropped = w.getStaleDropped();
        out.duplicates = w.getDuplicates();
        out.refused = w.getRefused();
        out.waiting = w.getWaiting();
        return out;
      });
    }));
  }
  return kj::joinPromises(calls.releaseAsArray()).then([](kj::Array<ShardStatsReply> r) {
    return std::vector<ShardStatsReply>(r.begin(), r.end());
  });
}

}  // namespace flowps

#include "net/ps_client.h"

#include <cstring>
#include <functional>
#include <iterator>

#include <kj/debug.h>

#include "core/key_shard.h"
#include "net/ps.capnp.h"
#include "net/ps_client_shard.h"
#include "net/rpc_client.h"
#include "net/table_keys.h"
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

// One gradient for one part, ready for the wire.
struct PartGradient {
  std::string variable;
  Tensor values;
  Tensor indices;  // sparse only
};

// One table's gradient rows for one shard: keys int64 [n], values [n, dim].
struct TablePart {
  std::string table;
  Tensor keys, values;
};

// A push split by shard; shared by the shards' (re)tries.
struct PsClient::PushJob {
  int32_t worker = 0;
  std::vector<int64_t> steps;                        // per shard
  std::vector<uint32_t> seqs;                        // per shard: the push's seq for steps[k] (kept by retries)
  std::vector<std::vector<PartGradient>> per_shard;  // per shard
  std::vector<std::vector<TablePart>> tables;        // per shard: embedding table rows by key
  TraceContext trace;                                // active: each shard's call is a span, its id sent along
};

namespace {

// A table's gradient rows split by the shard that holds each key.
Status SplitTableGradient(const VariableGradient& g, std::vector<std::vector<TablePart>>* per_shard) {
  const int64_t n = static_cast<int64_t>(g.rows.size());
  if (!g.values.valid() || g.values.dtype() != DType::kFloat32 || g.values.shape().rank() != 2 ||
      g.values.shape().dim(0) != n)
    return InvalidArgument("push of table '" + g.variable + "': values must be float32 [len(keys), dim]");
  const int shards = static_cast<int>(per_shard->size());
  std::vector<std::vector<int64_t>> positions(static_cast<size_t>(shards));
  for (int64_t i = 0; i < n; ++i)
    positions[static_cast<size_t>(TableShardOf(g.rows[static_cast<size_t>(i)], shards))].push_back(i);
  for (int k = 0; k < shards; ++k) {
    const std::vector<int64_t>& mine = positions[static_cast<size_t>(k)];
    if (mine.empty()) continue;
    std::vector<int64_t> keys;
    for (int64_t pos : mine) keys.push_back(g.rows[static_cast<size_t>(pos)]);
    (*per_shard)[static_cast<size_t>(k)].push_back(
        TablePart{g.variable, Tensor::FromVector<int64_t>({static_cast<int64_t>(keys.size())}, keys),
                  GatherRows(g.values, mine)});
  }
  return Status::OK();
}

}  // namespace


PsClient::PsClient(kj::AsyncIoContext& io, PsClientOptions options, PartitionPlan plan)
    : options_(std::move(options)), plan_(std::move(plan)) {
  KJ_REQUIRE(static_cast<size_t>(plan_.num_shards) == options_.shard_addresses.size(),
             "the partition plan and the ps addresses disagree on the number of shards");
  for (const std::string& address : options_.shard_addresses) {
    RpcClientOptions o;
    o.address = address;
    o.token = options_.token;
    o.tls = options_.tls;
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
      WriteShardConfig(config, request.initConfig());
      return s->Call(request.send(), "configure").then([](capnp::Response<wire::ParameterServer::ConfigureResults>&& r) {
        return r.getRestoredCheckpoint();
      });
    }));
  }
  return kj::joinPromises(calls.releaseAsArray()).then([](kj::Array<int64_t> r) {
    return std::vector<int64_t>(r.begin(), r.end());
  });
}

kj::Promise<int> PsClient::CreateVariables(std::map<std::string, kernels::InitializerSpec> inits) {
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
        WriteInitializer(it == inits.end() ? kernels::InitializerSpec{} : it->second, def.initInitializer());
      }
      return s->Call(request.send(), "createVariables").then([](capnp::Response<wire::ParameterServer::CreateVariablesResults>&& r) {
        int created = 0;
        for (bool c : r.getCreated()) created += c ? 1 : 0;
        return created;
      });
    }));
  }
  return SumOfCounts(kj::mv(calls));
}

// What each shard is asked for one read, and how the answers go together.
struct PsClient::ReadPlan {
  struct Rows {
    std::string variable;
    Tensor ids;  // int64 global row ids held by the shard
  };
  struct Scatter {
    std::string variable;
    const VariablePlacement* placement = nullptr;
    Tensor ids;                               // as asked
    std::vector<std::vector<int64_t>> groups;  // per part: positions in ids
  };
  std::vector<std::string> names;                     // whole variables, as asked
  std::vector<Scatter> scatter;                       // rows, per variable asked
  std::vector<std::vector<std::string>> shard_names;  // per shard
  std::vector<std::vector<Rows>> shard_rows;          // per shard
  std::vector<TableLookupRequest> tables;             // keys split by shard (pushPull only)
  bool bfloat16 = false;
};

// One shard's answer to a read.
struct PsClient::ShardRead {
  int64_t step = -1;
  std::map<std::string, Tensor> values;  // the shard's part of each whole variable
  std::map<std::string, Tensor> rows;    // the shard's rows of each variable, in part order, each in the order asked
  std::vector<Tensor> table_rows;        // per table request: the shard's rows of its keys
};

namespace {

template <typename List>
void ReadNamed(List list, const std::shared_ptr<void>& owner, const char* what, std::map<std::string, Tensor>* out) {
  for (auto named : list) {
    std::string name = named.getName();
    (*out)[name] = ValueOrFail(ReadTensor(named.getTensor(), owner, std::string(what) + " '" + name + "'"));
  }
}

void WriteNames(capnp::List<capnp::Text>::Builder out, const std::vector<std::string>& names) {
  for (size_t i = 0; i < names.size(); ++i) out.set(static_cast<unsigned>(i), names[i]);
}

}  // namespace

StatusOr<std::shared_ptr<const PsClient::ReadPlan>> PsClient::PlanRead(const PullSpec& spec) const {
  auto plan = std::make_shared<ReadPlan>();
  plan->names = spec.names;
  for (const TableLookupRequest& t : spec.tables)
    if (t.keys == nullptr || t.keys->num_shards() != num_shards())
      return InvalidArgument("read of table '" + t.table + "': its keys are not split over " +
                             std::to_string(num_shards()) + " shards");
  plan->tables = spec.tables;
  plan->bfloat16 = options_.bfloat16;
  plan->shard_names.resize(static_cast<size_t>(num_shards()));
  plan->shard_rows.resize(static_cast<size_t>(num_shards()));
  for (const std::string& n : spec.names) {
    const VariablePlacement* v = plan_.Find(n);
    if (v == nullptr) return InvalidArgument("pull: unknown variable '" + n + "'");
    for (const VariablePart& p : v->parts) plan->shard_names[static_cast<size_t>(p.shard)].push_back(n);
  }
  for (const auto& [name, ids] : spec.rows) {
    const VariablePlacement* v = plan_.Find(name);
    if (v == nullptr) return InvalidArgument("pull rows: unknown variable '" + name + "'");
    if (!ids.valid() || ids.dtype() != DType::kInt64 || ids.shape().rank() != 1)
      return InvalidArgument("pull rows of '" + name + "': the row ids must be an int64 vector");
    ReadPlan::Scatter sc{name, v, ids, {}};
    const int64_t* data = ids.data<int64_t>();
    FLOWPS_ASSIGN_OR_RETURN(sc.groups, v->GroupRowsByPart(data, static_cast<size_t>(ids.num_elements())));
    for (size_t p = 0; p < v->parts.size(); ++p) {
      const std::vector<int64_t>& positions = sc.groups[p];
      if (positions.empty()) continue;
      Tensor mine = ids;  // every id on one part: sent as it is
      if (positions.size() != static_cast<size_t>(ids.num_elements())) {
        mine = Tensor(DType::kInt64, Shape{static_cast<int64_t>(positions.size())});
        for (size_t i = 0; i < positions.size(); ++i) mine.data<int64_t>()[i] = data[positions[i]];
      }
      plan->shard_rows[static_cast<size_t>(v->parts[p].shard)].push_back(ReadPlan::Rows{name, mine});
    }
    plan->scatter.push_back(std::move(sc));
  }
  return std::shared_ptr<const ReadPlan>(std::move(plan));
}

PulledVariables PsClient::Assemble(const ReadPlan& plan, std::vector<ShardRead> reads) const {
  PulledVariables out;
  for (const ShardRead& r : reads) out.shard_steps.push_back(r.step);
  for (const std::string& n : plan.names) {
    const VariablePlacement* v = plan_.Find(n);
    auto part_of = [&](const VariablePart& p) -> const Tensor& {
      auto it = reads[static_cast<size_t>(p.shard)].values.find(n);
      KJ_REQUIRE(it != reads[static_cast<size_t>(p.shard)].values.end(), "a ps shard did not return a part", n);
      return it->second;
    };
    if (v->parts.size() == 1) {  // no copy
      out.values[n] = part_of(v->parts[0]);
      continue;
    }
    Tensor whole(DType::kFloat32, v->full_shape);
    const size_t row_bytes = whole.num_bytes() / static_cast<size_t>(std::max<int64_t>(v->rows(), 1));
    for (const VariablePart& p : v->parts) {
      const Tensor& t = part_of(p);
      KJ_REQUIRE(t.num_bytes() == static_cast<size_t>(p.row_end - p.row_begin) * row_bytes,
                 "a ps shard returned a part of the wrong size", n);
      std::memcpy(static_cast<char*>(whole.raw_data()) + static_cast<size_t>(p.row_begin) * row_bytes, t.raw_data(),
                  t.num_bytes());
    }
    out.values[n] = whole;
  }
  for (const ReadPlan::Scatter& sc : plan.scatter) {
    const VariablePlacement* v = sc.placement;
    std::vector<int64_t> dims = v->full_shape.dims();
    dims[0] = sc.ids.num_elements();
    const Shape shape(dims);
    // Every row from one part, in the order asked: the shard's tensor is the answer.
    for (size_t p = 0; p < v->parts.size(); ++p) {
      if (static_cast<int64_t>(sc.groups[p].size()) != sc.ids.num_elements()) continue;
      auto it = reads[static_cast<size_t>(v->parts[p].shard)].rows.find(sc.variable);
      if (it != reads[static_cast<size_t>(v->parts[p].shard)].rows.end() && it->second.shape() == shape) {
        out.values[sc.variable] = it->second;
      }
    }
    if (out.values.count(sc.variable) && sc.ids.num_elements() > 0) continue;
    Tensor result(DType::kFloat32, shape);
    const size_t row_bytes = sc.ids.num_elements() == 0 ? 0 : result.num_bytes() / static_cast<size_t>(sc.ids.num_elements());
    for (int k = 0; k < num_shards(); ++k) {
      auto it = reads[static_cast<size_t>(k)].rows.find(sc.variable);
      if (it == reads[static_cast<size_t>(k)].rows.end()) continue;
      const Tensor& t = it->second;
      size_t at = 0;  // shard k's rows arrive in part order, each part in the order asked
      for (size_t p = 0; p < v->parts.size(); ++p) {
        if (v->parts[p].shard != k) continue;
        for (int64_t pos : sc.groups[p]) {
          KJ_REQUIRE((at + 1) * row_bytes <= t.num_bytes(), "a ps shard returned too few rows", sc.variable);
          std::memcpy(static_cast<char*>(result.raw_data()) + static_cast<size_t>(pos) * row_bytes,
                      static_cast<const char*>(t.raw_data()) + at * row_bytes, row_bytes);
          ++at;
        }
      }
    }
    out.values[sc.variable] = result;
  }
  return out;
}

namespace {

// Writes row requests (ids referenced, not copied); returns what must outlive the request.
template <typename RowsList>
std::vector<Tensor> WriteRows(capnp::List<wire::RowsRequest>::Builder out, const RowsList& rows) {
  std::vector<Tensor> kept;
  for (size_t i = 0; i < rows.size(); ++i) {
    out[static_cast<unsigned>(i)].setVariable(rows[i].variable);
    kept.push_back(ValueOrFail(WriteTensor(rows[i].ids, out[static_cast<unsigned>(i)].initIndices())));
  }
  return kept;
}

}  // namespace

kj::Promise<PulledVariables> PsClient::ReadFromShards(const PullSpec& spec, ShardAsk ask) {
  StatusOr<std::shared_ptr<const ReadPlan>> planned = PlanRead(spec);
  if (!planned.ok()) return KJ_EXCEPTION(FAILED, planned.status().ToString());
  std::shared_ptr<const ReadPlan> plan = *planned;
  kj::Vector<kj::Promise<ShardRead>> calls;
  for (int k = 0; k < num_shards(); ++k) {
    Shard* s = shard(k).get();
    std::function<kj::Promise<ShardRead>()> read = [ask, s, k, plan] { return ask(s, k, plan); };
    calls.add(AgainOnBreak(kj::mv(read), options_.push_attempts));
  }
  return kj::joinPromises(calls.releaseAsArray()).then([this, plan](kj::Array<ShardRead> reads) {
    return Assemble(*plan, std::vector<ShardRead>(std::make_move_iterator(reads.begin()), std::make_move_iterator(reads.end())));
  });
}

kj::Promise<PulledVariables> PsClient::Pull(std::vector<std::string> names) {
  PullSpec spec;
  spec.names = std::move(names);
  return ReadFromShards(spec, [](Shard* s, int k, std::shared_ptr<const ReadPlan> plan) {
    return s->Get().then([s, k, plan](wire::ParameterServer::Client ps) {
      auto request = ps.pullRequest();
      const std::vector<std::string>& mine = plan->shard_names[static_cast<size_t>(k)];
      WriteNames(request.initNames(static_cast<unsigned>(mine.size())), mine);
      request.setBfloat16(plan->bfloat16);
      using Response = capnp::Response<wire::ParameterServer::PullResults>;
      return s->Call(request.send(), "pull").then([](Response&& r) {
        auto owner = std::make_shared<Response>(kj::mv(r));
        ShardRead read;
        read.step = owner->getGlobalStep();
        ReadNamed(owner->getTensors(), owner, "pulled", &read.values);
        return read;
      });
    });
  });
}

kj::Promise<PulledVariables> PsClient::PullRows(std::string name, std::vector<int64_t> rows) {
  PullSpec spec;
  spec.rows[name] = Tensor::FromVector<int64_t>({static_cast<int64_t>(rows.size())}, rows);
  return ReadFromShards(spec, [](Shard* s, int k, std::shared_ptr<const ReadPlan> plan) {
    return s->Get().then([s, k, plan](wire::ParameterServer::Client ps) {
      auto request = ps.pullRowsRequest();
      request.setBfloat16(plan->bfloat16);
      const auto& mine = plan->shard_rows[static_cast<size_t>(k)];
      std::vector<Tensor> kept = WriteRows(request.initRequests(static_cast<unsigned>(mine.size())), mine);
      using Response = capnp::Response<wire::ParameterServer::PullRowsResults>;
      return s->Call(request.send(), "pullRows")
          .then([](Response&& r) {
            auto owner = std::make_shared<Response>(kj::mv(r));
            ShardRead read;
            read.step = owner->getGlobalStep();
            ReadNamed(owner->getTensors(), owner, "rows of", &read.rows);
            return read;
          })
          .attach(kj::mv(kept));
    });
  });
}

StatusOr<std::shared_ptr<PsClient::PushJob>> PsClient::SplitPush(int32_t worker, std::vector<int64_t> shard_steps,
                                                                 std::vector<uint32_t> seqs,
                                                                 const std::vector<VariableGradient>& grads) const {
  if (shard_steps.size() != static_cast<size_t>(num_shards()))
    return InvalidArgument("push: need one step per ps shard");
  if (!seqs.empty() && seqs.size() != shard_steps.size()) return InvalidArgument("push: need one seq per ps shard");
  // Split every gradient into its parts, before sending anything.
  auto job = std::make_shared<PushJob>();
  job->worker = worker;
  job->steps = std::move(shard_steps);
  job->per_shard.resize(static_cast<size_t>(num_shards()));
  job->tables.resize(static_cast<size_t>(num_shards()));
  for (const VariableGradient& g : grads) {
    if (g.table) {
      FLOWPS_RETURN_IF_ERROR(SplitTableGradient(g, &job->tables));
      continue;
    }
    const VariablePlacement* v = plan_.Find(g.variable);
    if (v == nullptr) return InvalidArgument("push: unknown variable '" + g.variable + "'");
    if (!g.sparse) {
      FLOWPS_RETURN_IF_ERROR(g.values.Check(DType::kFloat32, v->full_shape, "push of '" + g.variable + "'"));
      for (const VariablePart& p : v->parts)
        job->per_shard[static_cast<size_t>(p.shard)].push_back(PartGradient{
            g.variable, v->full_shape.rank() == 0 ? g.values : g.values.Slice(p.row_begin, p.row_end), Tensor()});
      continue;
    }
    if (!g.values.valid() || g.values.shape().rank() < 1 ||
        g.values.shape().dim(0) != static_cast<int64_t>(g.rows.size()))
      return InvalidArgument("push of '" + g.variable + "': sparse values need one row per row id");
    FLOWPS_ASSIGN_OR_RETURN(std::vector<std::vector<int64_t>> groups, v->GroupRowsByPart(g.rows));
    for (size_t p = 0; p < v->parts.size(); ++p) {
      const std::vector<int64_t>& positions = groups[p];
      if (positions.empty()) continue;
      std::vector<int64_t> ids;
      for (int64_t pos : positions) ids.push_back(g.rows[static_cast<size_t>(pos)]);
      job->per_shard[static_cast<size_t>(v->parts[p].shard)].push_back(PartGradient{
          g.variable, GatherRows(g.values, positions), Tensor::FromVector<int64_t>({static_cast<int64_t>(ids.size())}, ids)});
    }
  }
  job->seqs = seqs.empty() ? std::vector<uint32_t>(job->steps.size(), 0) : std::move(seqs);
  return job;
}

kj::Promise<std::vector<ShardPushReply>> PsClient::Push(int32_t worker, std::vector<int64_t> shard_steps,
                                                        std::vector<VariableGradient> grads,
                                                        std::vector<uint32_t> shard_seqs) {
  StatusOr<std::shared_ptr<PushJob>> job = SplitPush(worker, std::move(shard_steps), std::move(shard_seqs), grads);
  if (!job.ok()) return KJ_EXCEPTION(FAILED, job.status().ToString());
  for (const VariableGradient& g : grads)
    if (g.table)
      return KJ_EXCEPTION(FAILED, "push of table '" + g.variable + "': table gradients travel with pushPull only");
  kj::Vector<kj::Promise<std::pair<ShardPushReply, ShardRead>>> calls;
  for (int k = 0; k < num_shards(); ++k) calls.add(SendShardPush(*job, nullptr, k, 0));
  return kj::joinPromises(calls.releaseAsArray()).then([](kj::Array<std::pair<ShardPushReply, ShardRead>> replies) {
    std::vector<ShardPushReply> out;
    for (auto& r : replies) out.push_back(r.first);
    return out;
  });
}

kj::Promise<PushPullResult> PsClient::PushPull(int32_t worker, std::vector<int64_t> shard_steps,
                                               std::vector<VariableGradient> grads, PullSpec next,
                                               const TraceContext& trace, std::vector<uint32_t> shard_seqs) {
  StatusOr<std::shared_ptr<PushJob>> job = SplitPush(worker, std::move(shard_steps), std::move(shard_seqs), grads);
  if (!job.ok()) return KJ_EXCEPTION(FAILED, job.status().ToString());
  (*job)->trace = trace;
  StatusOr<std::shared_ptr<const ReadPlan>> planned = PlanRead(next);
  if (!planned.ok()) return KJ_EXCEPTION(FAILED, planned.status().ToString());
  std::shared_ptr<const ReadPlan> plan = *planned;
  kj::Vector<kj::Promise<std::pair<ShardPushReply, ShardRead>>> calls;
  for (int k = 0; k < num_shards(); ++k) calls.add(SendShardPush(*job, plan, k, 0));
  return kj::joinPromises(calls.releaseAsArray())
      .then([this, plan](kj::Array<std::pair<ShardPushReply, ShardRead>> replies) {
        PushPullResult out;
        std::vector<ShardRead> reads;
        for (auto& r : replies) {
          out.pushed.push_back(r.first);
          reads.push_back(kj::mv(r.second));
        }
        if (!plan->tables.empty()) {
          out.tables.rows.resize(plan->tables.size());
          for (ShardRead& r : reads) {
            out.tables.shard_steps.push_back(r.step);
            for (size_t i = 0; i < plan->tables.size(); ++i) out.tables.rows[i].push_back(std::move(r.table_rows[i]));
          }
        }
        out.pulled = Assemble(*plan, std::move(reads));
        return out;
      });
}

kj::Promise<std::pair<ShardPushReply, PsClient::ShardRead>> PsClient::SendShardPush(
    std::shared_ptr<const PushJob> job, std::shared_ptr<const ReadPlan> read, int k, int attempt) {
  using Reply = std::pair<ShardPushReply, ShardRead>;
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
  const std::string what = std::string(read ? "pushPull" : "push") + " to ps shard " + std::to_string(k);
  // A traced pushPull: this shard's call, from here to its answer, is a span the shard records under.
  std::shared_ptr<TraceScope> span;
  if (job->trace.active() && read != nullptr) {
    const std::string shard_name = "ps:" + std::to_string(k);
    span = std::make_shared<TraceScope>(job->trace.OnTrack("rpc " + shard_name), "pushPull", "rpc", shard_name);
  }
  const uint64_t trace_parent = span ? span->id() : 0;
  return s->Get()
      .then([this, s, k, job, read, messages, what, trace_parent](wire::ParameterServer::Client ps) {
        kj::Vector<kj::Promise<Reply>> calls;
        TensorWireOptions wire_options;
        wire_options.bfloat16 = options_.bfloat16;
        // Fills the push fields of a push or pushPull request; returns what it references.
        auto fill = [&](auto& request, size_t m) {
          request.setWorker(job->worker);
          request.setStep(job->steps[static_cast<size_t>(k)]);
          request.setSeq(job->seqs[static_cast<size_t>(k)]);
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
          return kept;
        };
        for (size_t m = 0; m < messages.size(); ++m) {
          if (read == nullptr) {
            auto request = ps.pushRequest();
            std::vector<Tensor> kept = fill(request, m);
            calls.add(s->Call(request.send(), what)
                          .then([](capnp::Response<wire::ParameterServer::PushResults>&& r) {
                            // Only the part that completed the push carries its outcome.
                            return Reply{ShardPushReply{FromWire(r.getOutcome()), r.getComplete() ? r.getGlobalStep() : -1},
                                         ShardRead{}};
                          })
                          .attach(kj::mv(kept), job));
            continue;
          }
          auto request = ps.pushPullRequest();
          std::vector<Tensor> kept = fill(request, m);
          if (m == 0) {  // the table rows go with the first part
            const std::vector<TablePart>& tables = job->tables[static_cast<size_t>(k)];
            auto list = request.initTableGradients(static_cast<unsigned>(tables.size()));
            for (size_t i = 0; i < tables.size(); ++i) {
              auto out = list[static_cast<unsigned>(i)];
              out.setTable(tables[i].table);
              kept.push_back(ValueOrFail(WriteTensor(tables[i].keys, out.initKeys(), TensorWireOptions())));
              kept.push_back(ValueOrFail(WriteTensor(tables[i].values, out.initValues(), wire_options)));
            }
          }
          // Every part asks for the values: the part that completes the push answers with them.
          auto next = request.initNext();
          const std::vector<std::string>& names = read->shard_names[static_cast<size_t>(k)];
          WriteNames(next.initNames(static_cast<unsigned>(names.size())), names);
          const auto& rows = read->shard_rows[static_cast<size_t>(k)];
          for (Tensor& t : WriteRows(next.initRows(static_cast<unsigned>(rows.size())), rows)) kept.push_back(t);
          next.setBfloat16(read->bfloat16);
          if (!read->tables.empty())
            for (Tensor& t : WriteTableKeys(read->tables, k,
                                            request.initNextTables(static_cast<unsigned>(read->tables.size()))))
              kept.push_back(t);
          request.setTraceParent(trace_parent);
          using Response = capnp::Response<wire::ParameterServer::PushPullResults>;
          calls.add(s->Call(request.send(), what)
                        .then([read, k](Response&& r) {
                          auto owner = std::make_shared<Response>(kj::mv(r));
                          Reply reply{ShardPushReply{FromWire(owner->getOutcome()),
                                                     owner->getComplete() ? owner->getGlobalStep() : -1,
                                                     owner->getWaitSeconds()},
                                      ShardRead{}};
                          reply.second.step = reply.first.global_step;
                          ReadNamed(owner->getValues(), owner, "pulled", &reply.second.values);
                          ReadNamed(owner->getRows(), owner, "rows of", &reply.second.rows);
                          // An earlier part of a multi-part push answers no rows; the part that completes it does.
                          if (owner->getComplete())
                            reply.second.table_rows = ReadTableRows(read->tables, k, owner->getTableRows(), owner);
                          return reply;
                        })
                        .attach(kj::mv(kept), job, read));
        }
        return kj::joinPromises(calls.releaseAsArray());
      })
      .then([span](kj::Array<Reply> replies) {
        if (span) span->End();
        for (Reply& r : replies)
          if (r.first.global_step >= 0) return kj::mv(r);
        return kj::mv(replies[replies.size() - 1]);
      })
      .catch_([this, job, read, k, attempt](kj::Exception&& e) -> kj::Promise<Reply> {
        // A broken connection: the push may or may not have landed. The shard
        // recognises a second copy of (worker, step, seq), so sending it again is safe.
        if (e.getType() == kj::Exception::Type::DISCONNECTED && attempt + 1 < options_.push_attempts)
          return SendShardPush(job, read, k, attempt + 1);
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

kj::Promise<std::vector<int64_t>> PsClient::CompleteCheckpoints() {
  Shard* s = shard(0).get();
  return s->Get().then([s](wire::ParameterServer::Client ps) {
    return s->Call(ps.checkpointStatusRequest().send(), "checkpointStatus")
        .then([](capnp::Response<wire::ParameterServer::CheckpointStatusResults>&& r) {
          std::vector<int64_t> steps;
          for (int64_t step : r.getComplete()) steps.push_back(step);
          return steps;
        });
  });
}

kj::Promise<std::vector<Status>> PsClient::RestoreCheckpoint(int64_t checkpoint_step) {
  kj::Vector<kj::Promise<Status>> calls;
  for (int k = 0; k < num_shards(); ++k) {
    Shard* s = shard(k).get();
    const std::string what = "restoreCheckpoint on ps shard " + std::to_string(k);
    calls.add(s->Get()
                  .then([s, checkpoint_step, what](wire::ParameterServer::Client ps) {
                    auto request = ps.restoreCheckpointRequest();
                    request.setCheckpointStep(checkpoint_step);
                    return s->Call(request.send(), what).ignoreResult();
                  })
                  .then([]() { return Status::OK(); },
                        [what](kj::Exception&& e) { return StatusFromException(e, what); }));
  }
  return kj::joinPromises(calls.releaseAsArray()).then([](kj::Array<Status> r) {
    return std::vector<Status>(r.begin(), r.end());
  });
}

kj::Promise<std::vector<ShardStatsReply>> PsClient::Stats() {
  kj::Vector<kj::Promise<ShardStatsReply>> calls;
  for (int k = 0; k < num_shards(); ++k) {
    Shard* s = shard(k).get();
    calls.add(s->Get().then([s](wire::ParameterServer::Client ps) {
      return s->Call(ps.statsRequest().send(), "stats").then([](capnp::Response<wire::ParameterServer::StatsResults>&& r) {
        StatusOr<ShardStats> stats = ReadShardStats(r.getStats());
        KJ_REQUIRE(stats.ok(), "stats", stats.status().ToString());
        return *stats;
      });
    }));
  }
  return kj::joinPromises(calls.releaseAsArray()).then([](kj::Array<ShardStatsReply> r) {
    return std::vector<ShardStatsReply>(r.begin(), r.end());
  });
}

}  // namespace flowps

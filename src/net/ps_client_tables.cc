// PsClient's embedding table calls (net/ps_client.h): creating the job's
// tables on every shard and a batch's lookup, one RPC per shard.
#include <kj/debug.h>

#include "net/config_wire.h"
#include "net/ps.capnp.h"
#include "net/ps_client.h"
#include "net/ps_client_shard.h"
#include "net/table_keys.h"
#include "net/tensor_codec.h"

namespace flowps {

std::vector<Tensor> WriteTableKeys(const std::vector<TableLookupRequest>& requests, int k,
                                   capnp::List<wire::TableKeys>::Builder out) {
  std::vector<Tensor> kept;
  for (size_t i = 0; i < requests.size(); ++i) {
    auto keys = out[static_cast<unsigned>(i)];
    keys.setTable(requests[i].table);
    StatusOr<Tensor> written = WriteTensor(requests[i].keys->shard_keys(k), keys.initKeys());
    if (!written.ok()) kj::throwFatalException(KJ_EXCEPTION(FAILED, written.status().ToString()));
    kept.push_back(*written);
  }
  return kept;
}

std::vector<Tensor> ReadTableRows(const std::vector<TableLookupRequest>& requests, int k,
                                  capnp::List<wire::Tensor>::Reader rows, const std::shared_ptr<void>& owner) {
  KJ_REQUIRE(rows.size() == requests.size(), "a ps shard answered a lookup with the wrong number of tables");
  std::vector<Tensor> out;
  for (size_t i = 0; i < requests.size(); ++i) {
    StatusOr<Tensor> t = ReadTensor(rows[static_cast<unsigned>(i)], owner, "rows of table '" + requests[i].table + "'");
    if (!t.ok()) kj::throwFatalException(KJ_EXCEPTION(FAILED, t.status().ToString()));
    const int64_t n = requests[i].keys->num_shard_keys(k);
    KJ_REQUIRE(t->shape().rank() == 2 && t->shape().dim(0) == n && t->dtype() == DType::kFloat32,
               "a ps shard answered a lookup with rows of the wrong shape", requests[i].table);
    out.push_back(std::move(*t));
  }
  return out;
}

kj::Promise<int> PsClient::CreateTables(std::vector<TableConfig> tables) {
  kj::Vector<kj::Promise<int>> calls;
  for (int k = 0; k < num_shards(); ++k) {
    Shard* s = shard(k).get();
    calls.add(s->Get().then([s, tables](wire::ParameterServer::Client ps) {
      auto request = ps.createTablesRequest();
      auto defs = request.initTables(static_cast<unsigned>(tables.size()));
      for (size_t i = 0; i < tables.size(); ++i) {
        Status st = WriteTableDef(tables[i], defs[static_cast<unsigned>(i)]);
        if (!st.ok()) kj::throwFatalException(KJ_EXCEPTION(FAILED, st.ToString()));
      }
      return s->Call(request.send(), "createTables")
          .then([](capnp::Response<wire::ParameterServer::CreateTablesResults>&& r) {
            int created = 0;
            for (bool c : r.getCreated()) created += c ? 1 : 0;
            return created;
          });
    }));
  }
  return SumOfCounts(kj::mv(calls));
}

kj::Promise<TableLookupResult> PsClient::LookupTables(std::vector<TableLookupRequest> requests, bool train) {
  for (const TableLookupRequest& r : requests)
    if (r.keys == nullptr || r.keys->num_shards() != num_shards())
      return KJ_EXCEPTION(FAILED, "lookup of table '" + r.table + "': its keys are not split over " +
                                      std::to_string(num_shards()) + " shards");
  auto reqs = std::make_shared<const std::vector<TableLookupRequest>>(std::move(requests));
  using ShardRows = std::pair<int64_t, std::vector<Tensor>>;  // (step, rows per request)
  kj::Vector<kj::Promise<ShardRows>> calls;
  for (int k = 0; k < num_shards(); ++k) {
    bool any = false;
    for (const TableLookupRequest& r : *reqs) any = any || r.keys->num_shard_keys(k) > 0;
    if (!any) {  // nothing on this shard: no call
      std::vector<Tensor> empty;
      for (size_t i = 0; i < reqs->size(); ++i) empty.emplace_back();
      calls.add(ShardRows{-1, std::move(empty)});
      continue;
    }
    Shard* s = shard(k).get();
    std::function<kj::Promise<ShardRows>()> lookup = [s, k, reqs, train] {
      return s->Get().then([s, k, reqs, train](wire::ParameterServer::Client ps) {
        auto request = ps.lookupTablesRequest();
        request.setTrain(train);
        std::vector<Tensor> kept = WriteTableKeys(*reqs, k, request.initRequests(static_cast<unsigned>(reqs->size())));
        using Response = capnp::Response<wire::ParameterServer::LookupTablesResults>;
        return s->Call(request.send(), "lookupTables on ps shard " + std::to_string(k))
            .then([reqs, k](Response&& r) {
              auto owner = std::make_shared<Response>(kj::mv(r));
              return ShardRows{owner->getGlobalStep(), ReadTableRows(*reqs, k, owner->getRows(), owner)};
            })
            .attach(kj::mv(kept));
      });
    };
    calls.add(AgainOnBreak(kj::mv(lookup), options_.push_attempts));
  }
  return kj::joinPromises(calls.releaseAsArray()).then([reqs](kj::Array<ShardRows> shards) {
    TableLookupResult result;
    result.rows.resize(reqs->size());
    for (ShardRows& s : shards) {
      result.shard_steps.push_back(s.first);
      for (size_t i = 0; i < reqs->size(); ++i) result.rows[i].push_back(std::move(s.second[i]));
    }
    return result;
  });
}

}  // namespace flowps

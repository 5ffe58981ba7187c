// Internals of PsClient shared by its implementation files (ps_client.cc,
// ps_client_tables.cc): one shard's connection, and retrying a call that is
// safe to repeat. Not part of the client's interface.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <kj/async.h>

#include "net/ps.capnp.h"
#include "net/ps_client.h"
#include "net/rpc_client.h"

namespace flowps {

// `call()` again, on a new connection, while it fails because the connection
// broke, `attempts` in all. Only for calls that are safe to repeat.
template <typename T>
inline kj::Promise<T> AgainOnBreak(std::function<kj::Promise<T>()> call, int attempts) {
  return call().catch_([call, attempts](kj::Exception&& e) mutable -> kj::Promise<T> {
    if (e.getType() == kj::Exception::Type::DISCONNECTED && attempts > 1) return AgainOnBreak(kj::mv(call), attempts - 1);
    return kj::mv(e);
  });
}

// Writes shard k's keys of each request (referenced, not copied); returns
// what must outlive the request.
std::vector<Tensor> WriteTableKeys(const std::vector<TableLookupRequest>& requests, int k,
                                   capnp::List<wire::TableKeys>::Builder out);
// Shard k's rows of each request, read in place from a response that `owner`
// keeps alive; fails unless each is float32 [len(shard k's keys), dim].
std::vector<Tensor> ReadTableRows(const std::vector<TableLookupRequest>& requests, int k,
                                  capnp::List<wire::Tensor>::Reader rows, const std::shared_ptr<void>& owner);

// The sum of per-shard counts (e.g. of things created).
inline kj::Promise<int> SumOfCounts(kj::Vector<kj::Promise<int>> calls) {
  return kj::joinPromises(calls.releaseAsArray()).then([](kj::Array<int> counts) {
    int total = 0;
    for (int c : counts) total += c;
    return total;
  });
}

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

}  // namespace flowps

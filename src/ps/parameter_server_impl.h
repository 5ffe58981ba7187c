// ParameterServerImpl: the "ps" service of a flowps-ps task, the RPC face of
// one ParameterShard (schema: net/schema/ps.capnp).
//
// Threads: its calls run on the RpcServer's KJ loop, which only decodes and
// encodes; validation, optimizer applies, initialisation, pulls' copies into
// the response and checkpoint I/O run on the ThreadPool (RunOnPool or a
// cross-thread fulfiller), so the loop never computes. Calls are not
// cancellable (Cap'n Proto's default), which keeps a request's tensors alive
// while the pool reads them.
//
// Wire: pushed tensors are read in place from the request (zero copy) and
// copied only where the shard keeps them past the call (a sync step's sums,
// the parts of a multi-part push, a held async push). Pull responses are
// copied into the response message on the pool: Cap'n Proto writes a response
// after the call returns, so it may not reference variable buffers.
#pragma once

#include <memory>

#include <capnp/capability.h>

namespace spdlog {
class logger;
}

namespace flowps {

struct ServiceEnv;

namespace ps {

// The capability to register as the "ps" service of ps task `shard` of
// `num_shards`. The shard is made (and restored from its newest complete
// checkpoint) by the first `configure` call, which the chief sends.
capnp::Capability::Client NewParameterServer(ServiceEnv& env, int shard, int num_shards,
                                             std::shared_ptr<spdlog::logger> log);

}  // namespace ps
}  // namespace flowps

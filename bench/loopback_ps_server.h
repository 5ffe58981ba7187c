// StartLoopbackPsServer: one ps shard served by an RpcServer of this process,
// for benchmarks that measure the ps over loopback TCP (pushpull, null-step,
// train). It logs nowhere.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "net/rpc_server.h"
#include "ps/parameter_server_impl.h"

namespace flowps {

// Shard `shard` of `num_shards`, serving "ps" at `address` ("127.0.0.1:0"
// picks a free port; see RpcServer::address()). REQUIRES: pool outlives the server.
StatusOr<std::unique_ptr<RpcServer>> StartLoopbackPsServer(ThreadPool* pool, const std::string& token,
                                                           const std::string& address = "127.0.0.1:0",
                                                           int shard = 0, int num_shards = 1,
                                                           ps::ParameterServerOptions ps_options = {});

}  // namespace flowps

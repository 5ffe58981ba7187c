#include "bench/loopback_ps_server.h"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "core/logging.h"

namespace flowps {

StatusOr<std::unique_ptr<RpcServer>> StartLoopbackPsServer(ThreadPool* pool, const std::string& token,
                                                           const std::string& address, int shard, int num_shards,
                                                           ps::ParameterServerOptions ps_options) {
  LogSinks silent = {std::make_shared<spdlog::sinks::null_sink_mt>()};
  RpcServerOptions options;
  options.bind_address = address;
  options.token = token;
  options.task_name = "/job:ps/task:" + std::to_string(shard);
  options.pool = pool;
  options.logger = MakeLogger("net", silent);
  auto ps_log = MakeLogger("ps", silent);
  ServiceFactories services;
  services["ps"] = [ps_log, shard, num_shards, ps_options](ServiceEnv& env) {
    return ps::NewParameterServer(env, shard, num_shards, ps_log, ps_options);
  };
  return RpcServer::Start(options, std::move(services));
}

}  // namespace flowps

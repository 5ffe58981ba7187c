#include "bench/rpc_latency_bench.h"

#include <kj/async-io.h>

#include <chrono>

#include "bench/bench_runner.h"
#include "bench/tcp_baselines.h"
#include "core/logging.h"
#include "core/thread_pool.h"
#include "net/rpc_client.h"
#include "net/rpc_server.h"

namespace flowps {
namespace {

using Clock = std::chrono::steady_clock;

double PerSecond(int64_t n, Clock::duration d) { return static_cast<double>(n) / std::chrono::duration<double>(d).count(); }

Status RunRpcLatency(BenchContext& context) {
  auto options = context.options;
  FLOWPS_ASSIGN_OR_RETURN(int64_t calls, TakeIntOption(options, "calls", 20000));
  FLOWPS_ASSIGN_OR_RETURN(int64_t window, TakeIntOption(options, "window", 16));
  FLOWPS_RETURN_IF_ERROR(RefuseUnknownOptions(options, "rpc-latency"));

  ThreadPool* pool = context.pool;
  RpcServerOptions server_options;
  server_options.bind_address = "127.0.0.1:0";
  server_options.token = "rpc-latency-bench-token";
  server_options.task_name = "/job:ps/task:0";
  server_options.pool = pool;
  server_options.logger = MakeLogger("net", {});
  FLOWPS_ASSIGN_OR_RETURN(auto server, RpcServer::Start(server_options, {}));

  auto io = kj::setupAsyncIo();
  RpcClientOptions client_options;
  client_options.address = server->address();
  client_options.token = server_options.token;
  RpcClient client(io, client_options);
  for (int i = 0; i < 500; ++i)
    FLOWPS_RETURN_IF_ERROR(WaitFor(client.Health(), io.waitScope, "warm-up").status());

  context.progress("sequential health calls");
  auto start = Clock::now();
  for (int64_t i = 0; i < calls; ++i) FLOWPS_RETURN_IF_ERROR(WaitFor(client.Health(), io.waitScope, "health").status());
  const double sequential = PerSecond(calls, Clock::now() - start);

  context.progress("pipelined health calls");
  start = Clock::now();
  int64_t done = 0;
  while (done < calls) {
    kj::Vector<kj::Promise<TaskHealth>> in_flight;
    for (int64_t i = 0; i < window && done + i < calls; ++i) in_flight.add(client.Health());
    done += static_cast<int64_t>(in_flight.size());
    FLOWPS_RETURN_IF_ERROR(WaitFor(kj::joinPromises(in_flight.releaseAsArray()), io.waitScope, "health").status());
  }
  const double pipelined = PerSecond(calls, Clock::now() - start);

  context.progress("raw TCP ping-pong");
  FLOWPS_ASSIGN_OR_RETURN(double tcp, TcpPingPongPerSecond(calls));

  context.emit(Measurement{"rpc_health_calls_per_s", sequential, "calls/s", "tcp_pingpong_calls_per_s", tcp});
  context.emit(Measurement{"rpc_pipelined_calls_per_s", pipelined, "calls/s", "tcp_pingpong_calls_per_s", tcp});
  return Status::OK();
}

}  // namespace

Benchmark MakeRpcLatencyBenchmark() {
  return Benchmark{"rpc-latency", "tiny authenticated RPC calls/s over loopback, beside a raw TCP ping-pong",
                   RunRpcLatency};
}

}  // namespace flowps

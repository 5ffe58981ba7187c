#include "bench/rpc_latency_bench.h"

#include <kj/async-io.h>

#include <chrono>
#include <optional>

#include "bench/bench_runner.h"
#include "bench/process_counters.h"
#include "bench/tcp_baselines.h"
#include "core/logging.h"
#include "core/thread_pool.h"
#include "core/tls_settings.h"
#include "net/rpc_client.h"
#include "net/rpc_server.h"

namespace flowps {
namespace {

using Clock = std::chrono::steady_clock;

double PerSecond(int64_t n, Clock::duration d) { return static_cast<double>(n) / std::chrono::duration<double>(d).count(); }

// CPU-us, thread switches and read/write system calls per call of `what` (and
// of the baseline): the switches and system calls do not move with the
// machine's load as calls/s do (CPU-us moves less, but does).
void EmitCosts(BenchContext& context, const std::string& what, const ProcessCounters& spent, int64_t calls,
               const ProcessCounters& tcp_spent, int64_t tcp_calls) {
  const double n = static_cast<double>(calls), t = static_cast<double>(tcp_calls);
  context.emit(Measurement{what + "_cpu_us_per_call", spent.cpu_us / n, "us", "tcp_pingpong_cpu_us_per_call",
                           tcp_spent.cpu_us / t});
  context.emit(Measurement{what + "_switches_per_call", static_cast<double>(spent.switches()) / n, "switches",
                           "tcp_pingpong_switches_per_call", static_cast<double>(tcp_spent.switches()) / t});
  // The ping-pong's send() and recv() are not counted there (see ProcessCounters): it makes 4 per round trip.
  context.emit(Measurement{what + "_io_calls_per_call", static_cast<double>(spent.io_calls()) / n, "syscalls",
                           std::nullopt, std::nullopt});
}

Status RunRpcLatency(BenchContext& context) {
  auto options = context.options;
  FLOWPS_ASSIGN_OR_RETURN(int64_t calls, TakeIntOption(options, "calls", 20000));
  FLOWPS_ASSIGN_OR_RETURN(int64_t window, TakeIntOption(options, "window", 16));
  // tls_dir=DIR: both ends on mutual TLS with DIR/node.pem, node.key and ca.pem
  // (tests/net/make_test_certs.sh DIR makes them); the measurements are named rpc_tls_*.
  std::optional<TlsSettings> tls;
  if (auto dir = options.find("tls_dir"); dir != options.end()) {
    std::string bad_key;
    auto loaded = LoadTlsSettings({dir->second + "/node.pem", dir->second + "/node.key", dir->second + "/ca.pem",
                                   "localhost"}, &bad_key);
    if (!loaded.ok()) return InvalidArgument("rpc-latency: tls_dir: " + loaded.status().message());
    tls = *std::move(loaded);
    options.erase(dir);
  }
  const std::string rpc = tls.has_value() ? "rpc_tls" : "rpc";
  FLOWPS_RETURN_IF_ERROR(RefuseUnknownOptions(options, "rpc-latency"));

  ThreadPool* pool = context.pool;
  RpcServerOptions server_options;
  server_options.bind_address = "127.0.0.1:0";
  server_options.token = "rpc-latency-bench-token";
  server_options.task_name = "/job:ps/task:0";
  server_options.pool = pool;
  server_options.logger = MakeLogger("net", {});
  server_options.tls = tls;
  FLOWPS_ASSIGN_OR_RETURN(auto server, RpcServer::Start(server_options, {}));

  auto io = kj::setupAsyncIo();
  RpcClientOptions client_options;
  client_options.address = server->address();
  client_options.token = server_options.token;
  client_options.tls = tls;
  RpcClient client(io, client_options);
  for (int i = 0; i < 500; ++i)
    FLOWPS_RETURN_IF_ERROR(WaitFor(client.Health(), io.waitScope, "warm-up").status());

  context.progress("sequential health calls");
  auto start = Clock::now();
  ProcessCounters before = ProcessCounters::Now();
  for (int64_t i = 0; i < calls; ++i) FLOWPS_RETURN_IF_ERROR(WaitFor(client.Health(), io.waitScope, "health").status());
  const double sequential = PerSecond(calls, Clock::now() - start);
  const ProcessCounters sequential_spent = ProcessCounters::Now() - before;

  context.progress("pipelined health calls");
  start = Clock::now();
  before = ProcessCounters::Now();
  int64_t done = 0;
  while (done < calls) {
    kj::Vector<kj::Promise<TaskHealth>> in_flight;
    for (int64_t i = 0; i < window && done + i < calls; ++i) in_flight.add(client.Health());
    done += static_cast<int64_t>(in_flight.size());
    FLOWPS_RETURN_IF_ERROR(WaitFor(kj::joinPromises(in_flight.releaseAsArray()), io.waitScope, "health").status());
  }
  const double pipelined = PerSecond(calls, Clock::now() - start);
  const ProcessCounters pipelined_spent = ProcessCounters::Now() - before;

  context.progress("raw TCP ping-pong");
  before = ProcessCounters::Now();
  FLOWPS_ASSIGN_OR_RETURN(double tcp, TcpPingPongPerSecond(calls));
  const ProcessCounters tcp_spent = ProcessCounters::Now() - before;  // with its 500 warm-up pings

  context.emit(Measurement{rpc + "_health_calls_per_s", sequential, "calls/s", "tcp_pingpong_calls_per_s", tcp});
  context.emit(Measurement{rpc + "_pipelined_calls_per_s", pipelined, "calls/s", "tcp_pingpong_calls_per_s", tcp});
  EmitCosts(context, rpc + "_health", sequential_spent, calls, tcp_spent, calls + 500);
  EmitCosts(context, rpc + "_pipelined", pipelined_spent, calls, tcp_spent, calls + 500);
  return Status::OK();
}

}  // namespace

Benchmark MakeRpcLatencyBenchmark() {
  return Benchmark{"rpc-latency", "tiny authenticated RPC calls/s over loopback, beside a raw TCP ping-pong",
                   RunRpcLatency};
}

}  // namespace flowps

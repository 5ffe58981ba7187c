#include "bench/rpc_latency_bench.h"

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <kj/async-io.h>

#include <array>
#include <chrono>
#include <thread>

#include "bench/bench_runner.h"
#include "core/logging.h"
#include "core/thread_pool.h"
#include "net/rpc_client.h"
#include "net/rpc_server.h"

namespace flowps {
namespace {

using Clock = std::chrono::steady_clock;

double PerSecond(int64_t n, Clock::duration d) { return static_cast<double>(n) / std::chrono::duration<double>(d).count(); }

// Round trips of 8 bytes over a loopback TCP connection, one at a time.
StatusOr<double> TcpPingPong(int64_t calls) {
  try {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto endpoint = acceptor.local_endpoint();
    std::thread echo([&acceptor]() {
      asio::error_code ec;
      asio::ip::tcp::socket peer = acceptor.accept(ec);
      if (ec) return;
      peer.set_option(asio::ip::tcp::no_delay(true));
      std::array<char, 8> buf;
      while (!ec) {
        asio::read(peer, asio::buffer(buf), ec);
        if (!ec) asio::write(peer, asio::buffer(buf), ec);
      }
    });
    asio::ip::tcp::socket socket(io);
    socket.connect(endpoint);
    socket.set_option(asio::ip::tcp::no_delay(true));
    std::array<char, 8> buf = {'p', 'i', 'n', 'g', 0, 0, 0, 0};
    for (int i = 0; i < 500; ++i) {
      asio::write(socket, asio::buffer(buf));
      asio::read(socket, asio::buffer(buf));
    }
    auto start = Clock::now();
    for (int64_t i = 0; i < calls; ++i) {
      asio::write(socket, asio::buffer(buf));
      asio::read(socket, asio::buffer(buf));
    }
    auto elapsed = Clock::now() - start;
    socket.close();
    echo.join();
    return PerSecond(calls, elapsed);
  } catch (const std::exception& e) {
    return Unavailable(std::string("tcp ping-pong: ") + e.what());
  }
}

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
  FLOWPS_ASSIGN_OR_RETURN(double tcp, TcpPingPong(calls));

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

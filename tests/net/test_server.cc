#include "test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/logger.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include <kj/debug.h>

#include "echo.capnp.h"
#include "net/pool_bridge.h"
#include "net/tensor_codec.h"

namespace flowps::test {
namespace {

class EchoImpl final : public Echo::Server {
 public:
  explicit EchoImpl(ThreadPool& pool) : pool_(pool) {}

  kj::Promise<void> echo(EchoContext context) override {
    auto in = context.getParams().getTensor();
    auto t = ReadTensor(in, nullptr, "echo");
    KJ_REQUIRE(t.ok(), t.status().message());
    bool zero_copy = in.getChunks().size() >= 1 && in.getChunks()[0].begin() == t->raw_data();
    Tensor tensor = *t;
    // The sum runs on the pool; the params stay alive until this call returns.
    return RunOnPool(pool_, [tensor]() {
             double sum = 0;
             if (tensor.dtype() == DType::kFloat32)
               for (float v : tensor.ToVector<float>()) sum += v;
             return sum;
           })
        .then([context, tensor, zero_copy](double sum) mutable {
          auto results = context.getResults();
          results.setZeroCopy(zero_copy);
          results.setSum(sum);
          auto written = WriteTensor(tensor, results.initTensor(), TensorWireOptions::Copying());
          KJ_REQUIRE(written.ok(), written.status().message());
        });
  }

 private:
  ThreadPool& pool_;
};

}  // namespace

TestTask::TestTask(const std::string& task_name, size_t backlog_lines, const std::string& bind_address,
                   ConnectionLimits limits, std::optional<TlsSettings> tls)
    : pool(NewAsioThreadPool(2)), hub(task_name, backlog_lines) {
  logger = MakeLogger("net", {hub.sink()}, "debug");
  RpcServerOptions options;
  options.bind_address = bind_address;
  options.token = kToken;
  options.task_name = task_name;
  options.devices = {task_name + "/device:cpu:0"};
  options.logs = &hub;
  options.pool = pool.get();
  options.logger = logger;
  options.limits = limits;
  options.tls = std::move(tls);
  ServiceFactories services;
  services["echo"] = [](ServiceEnv& env) -> capnp::Capability::Client { return kj::heap<EchoImpl>(env.pool); };
  auto started = RpcServer::Start(options, services);
  if (!started.ok()) throw std::runtime_error(started.status().ToString());
  server = std::move(started).value();
}

TestTask::~TestTask() { server.reset(); }

RpcClientOptions ClientFor(const RpcServer& server, std::string token) {
  RpcClientOptions o;
  o.address = server.address();
  o.token = std::move(token);
  o.connect_timeout = std::chrono::milliseconds(5000);
  o.call_timeout = std::chrono::milliseconds(20000);
  return o;
}

int RawConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool ClosedWithin(int fd, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    if (::recv(fd, buf, sizeof buf, 0) <= 0) return true;
  }
}

int CountLines(const LogHub& hub, const std::string& text) {
  int n = 0;
  for (const LogRecord& r : hub.Backlog())
    if (r.message.find(text) != std::string::npos) ++n;
  return n;
}

void LogInfo(TestTask& task, const std::string& message) { task.logger->info("{}", message); }

}  // namespace flowps::test

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include "echo.capnp.h"
#include "net/rpc_client.h"
#include "net/tensor_codec.h"
#include "test_server.h"

using namespace flowps;
using flowps::test::ClientFor;
using flowps::test::TestTask;

namespace {

// A plain TCP listener on a free loopback port that accepts nothing.
struct SilentListener {
  SilentListener() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd, 4);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~SilentListener() { close(fd); }
  int fd = -1;
  int port = 0;
};

// Writes raw bytes to a fresh connection to 127.0.0.1:port and closes it.
void SendRawBytes(int port, const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  char buf[64];
  // The server closes the connection on a message it cannot read.
  (void)read(fd, buf, sizeof buf);
  close(fd);
}

}  // namespace

TEST_CASE("a health call reaches the task through the gate with the cluster token") {
  TestTask task("/job:ps/task:0");
  auto io = kj::setupAsyncIo();
  RpcClient client(io, ClientFor(*task.server));
  auto health = WaitFor(client.Health(), io.waitScope, "health");
  REQUIRE(health.ok());
  CHECK(health->task == "/job:ps/task:0");
  CHECK(health->pid == static_cast<uint32_t>(getpid()));
  CHECK(health->services == std::vector<std::string>{"echo"});
  CHECK(health->devices == std::vector<std::string>{"/job:ps/task:0/device:cpu:0"});
}

TEST_CASE("a wrong or missing token is refused and gives nothing else") {
  TestTask task("/job:ps/task:0");
  auto io = kj::setupAsyncIo();
  for (std::string token : {"wrong-token", ""}) {
    RpcClient client(io, ClientFor(*task.server, token));
    auto health = WaitFor(client.Health(), io.waitScope, "health");
    REQUIRE_FALSE(health.ok());
    CHECK(health.status().code() == Code::kUnauthenticated);
    CHECK_THAT(health.status().message(), Catch::Contains(kLoginRefused));
  }
  // A call pipelined on a refused login's session fails as well.
  auto stream = io.provider->getNetwork().parseAddress("127.0.0.1", task.server->port()).wait(io.waitScope)
                    ->connect().wait(io.waitScope);
  capnp::TwoPartyVatNetwork network(*stream, capnp::rpc::twoparty::Side::CLIENT, RpcReaderOptions());
  auto rpc = capnp::makeRpcClient(network);
  capnp::MallocMessageBuilder vat;
  vat.initRoot<capnp::rpc::twoparty::VatId>().setSide(capnp::rpc::twoparty::Side::SERVER);
  auto gate = rpc.bootstrap(vat.getRoot<capnp::rpc::twoparty::VatId>()).castAs<wire::Gate>();
  auto login = gate.loginRequest();
  login.setToken("guess");
  auto session = login.send().getSession();
  auto echo = session.serviceRequest();
  echo.setName("echo");
  Status s = WaitFor(echo.send().ignoreResult(), io.waitScope, "pipelined service");
  CHECK(s.code() == Code::kUnauthenticated);
}

TEST_CASE("a tensor goes out and comes back without copies into or out of the messages") {
  TestTask task("/job:ps/task:0");
  auto io = kj::setupAsyncIo();
  RpcClient client(io, ClientFor(*task.server));
  auto cap = WaitFor(client.GetService("echo"), io.waitScope, "echo");
  REQUIRE(cap.ok());
  auto echo = cap->castAs<test::Echo>();

  std::vector<float> values(100000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 97) * 0.5f;
  Tensor sent = Tensor::FromVector<float>(Shape{1000, 100}, values);
  auto request = echo.echoRequest();
  auto kept = WriteTensor(sent, request.initTensor());
  REQUIRE(kept.ok());
  // The request references the tensor's own bytes.
  CHECK(request.asReader().getTensor().getChunks()[0].begin() == sent.raw_data());

  auto response = WaitFor(client.Call(request.send().attach(Tensor(*kept)), "echo"), io.waitScope, "echo");
  REQUIRE(response.ok());
  CHECK(response->getZeroCopy());
  double expected = 0;
  for (float v : values) expected += v;
  CHECK(response->getSum() == Approx(expected));

  auto owner = std::make_shared<capnp::Response<test::Echo::EchoResults>>(std::move(*response));
  auto back = ReadTensor(owner->getTensor(), owner, "echo result");
  REQUIRE(back.ok());
  // The received tensor points into the response message.
  CHECK(back->raw_data() == owner->getTensor().getChunks()[0].begin());
  CHECK(back->shape() == Shape({1000, 100}));
  CHECK(back->ToVector<float>() == values);
}

TEST_CASE("a tensor of several chunks with an odd tail arrives intact") {
  TestTask task("/job:worker/task:0");
  auto io = kj::setupAsyncIo();
  RpcClient client(io, ClientFor(*task.server));
  auto echo = WaitFor(client.GetService("echo"), io.waitScope, "echo")->castAs<test::Echo>();
  const int64_t n = 3 * 262144 + 1;  // 3 MiB + 4 bytes: three 1 MiB chunks and a copied tail
  std::vector<float> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(i)] = static_cast<float>(i % 1000);
  Tensor sent = Tensor::FromVector<float>(Shape{n}, values);
  auto request = echo.echoRequest();
  auto kept = WriteTensor(sent, request.initTensor());
  REQUIRE(kept.ok());
  CHECK(request.asReader().getTensor().getChunks().size() == 4);
  auto response = WaitFor(request.send().attach(Tensor(*kept)), io.waitScope, "echo");
  REQUIRE(response.ok());
  CHECK_FALSE(response->getZeroCopy());  // several chunks are joined by a copy
  auto back = ReadTensor(response->getTensor(), nullptr, "echo result");
  REQUIRE(back.ok());
  CHECK(back->ToVector<float>() == values);
}

TEST_CASE("a tensor sent as several referenced chunks is read in place where they arrive back to back") {
  TestTask task("/job:worker/task:0");
  auto io = kj::setupAsyncIo();
  RpcClient client(io, ClientFor(*task.server));
  auto echo = WaitFor(client.GetService("echo"), io.waitScope, "echo")->castAs<test::Echo>();
  const int64_t n = 3 * 262144;  // 3 MiB: three referenced 1 MiB chunks, no tail
  std::vector<float> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(i)] = static_cast<float>(i % 977);
  Tensor sent = Tensor::FromVector<float>(Shape{n}, values);
  auto request = echo.echoRequest();
  auto kept = WriteTensor(sent, request.initTensor());
  REQUIRE(kept.ok());
  CHECK(request.asReader().getTensor().getChunks().size() == 3);
  auto response = WaitFor(request.send().attach(Tensor(*kept)), io.waitScope, "echo");
  REQUIRE(response.ok());
  CHECK(response->getZeroCopy());
  auto back = ReadTensor(response->getTensor(), nullptr, "echo result");
  REQUIRE(back.ok());
  CHECK(back->ToVector<float>() == values);
}

TEST_CASE("a tensor whose bytes disagree with its shape is refused and the task keeps serving") {
  TestTask task("/job:ps/task:0");
  auto io = kj::setupAsyncIo();
  RpcClient client(io, ClientFor(*task.server));
  auto echo = WaitFor(client.GetService("echo"), io.waitScope, "echo")->castAs<test::Echo>();
  auto request = echo.echoRequest();
  auto t = request.initTensor();
  t.setDtype(wire::DType::FLOAT32);
  t.initShape(2).set(0, 2);
  t.getShape().set(1, 3);
  t.initChunks(1).set(0, kj::heapArray<kj::byte>(20));
  auto response = WaitFor(request.send(), io.waitScope, "echo");
  REQUIRE_FALSE(response.ok());
  CHECK_THAT(response.status().message(), Catch::Contains("shape [2,3] of float32 needs 24 bytes, the message has 20"));
  CHECK(WaitFor(client.Health(), io.waitScope, "health").ok());
}

TEST_CASE("a named service that is not registered is refused, naming those that are") {
  TestTask task("/job:worker/task:1");
  auto io = kj::setupAsyncIo();
  RpcClient client(io, ClientFor(*task.server));
  auto cap = WaitFor(client.GetService("ps"), io.waitScope, "service");
  REQUIRE_FALSE(cap.ok());
  CHECK_THAT(cap.status().message(),
             Catch::Contains("no service named 'ps' on /job:worker/task:1; it serves: echo"));
}

TEST_CASE("a peer's malformed message closes only its own connection") {
  TestTask task("/job:ps/task:0");
  // A segment table announcing a 4 GiB segment, then garbage.
  SendRawBytes(task.server->port(), std::string("\x00\x00\x00\x00\xf0\xff\xff\x7f", 8) + std::string(64, '\x5a'));
  // A well-framed message whose content is nonsense.
  std::string junk("\x00\x00\x00\x00\x04\x00\x00\x00", 8);
  junk += std::string(32, '\xff');
  SendRawBytes(task.server->port(), junk);
  auto io = kj::setupAsyncIo();
  RpcClient client(io, ClientFor(*task.server));
  CHECK(WaitFor(client.Health(), io.waitScope, "health").ok());
}

TEST_CASE("a login that gets no answer fails at its deadline") {
  SilentListener silent;
  auto io = kj::setupAsyncIo();
  RpcClientOptions o;
  o.address = "127.0.0.1:" + std::to_string(silent.port);
  o.token = test::kToken;
  o.connect_timeout = std::chrono::milliseconds(200);
  RpcClient client(io, o);
  auto health = WaitFor(client.Health(), io.waitScope, "health");
  REQUIRE_FALSE(health.ok());
  CHECK(health.status().code() == Code::kDeadlineExceeded);
  CHECK_THAT(health.status().message(), Catch::Contains("connect and login after 200 ms"));
}

TEST_CASE("a client reconnects after its task restarts on the same address") {
  auto task = std::make_unique<TestTask>("/job:ps/task:0");
  const int port = task->server->port();
  auto io = kj::setupAsyncIo();
  RpcClient client(io, ClientFor(*task->server));
  REQUIRE(WaitFor(client.Health(), io.waitScope, "health").ok());
  task.reset();
  auto down = WaitFor(client.Health(), io.waitScope, "health");
  REQUIRE_FALSE(down.ok());
  CHECK(down.status().code() == Code::kUnavailable);

  // A new task on the same port.
  auto pool = NewAsioThreadPool(1);
  LogHub hub("/job:ps/task:0");
  RpcServerOptions options;
  options.bind_address = "127.0.0.1:" + std::to_string(port);
  options.token = test::kToken;
  options.task_name = "/job:ps/task:0";
  options.pool = pool.get();
  options.logger = MakeLogger("net", {hub.sink()});
  auto restarted = RpcServer::Start(options, {});
  REQUIRE(restarted.ok());
  auto health = WaitFor(client.Health(), io.waitScope, "health");
  INFO(health.status().ToString());
  REQUIRE(health.ok());
  CHECK(health->services.empty());
}

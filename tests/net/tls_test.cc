// Mutual TLS between RpcServer and RpcClient (net/tls_transport.h): who gets
// in, who is refused with what error, and that a daemon keeps serving after
// refusing. In-process servers with certificates made by openssl at test time.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <thread>

#include <kj/async-io.h>

#include "echo.capnp.h"
#include "net/tensor_codec.h"
#include "test_server.h"
#include "tls_pki.h"

using namespace flowps;
using namespace std::chrono_literals;
using flowps::test::ClientFor;
using flowps::test::ClosedWithin;
using flowps::test::CountLines;
using flowps::test::RawConnect;
using flowps::test::TestPki;
using flowps::test::TestTask;

namespace {

// A TLS client of `task` at localhost (the certificate names localhost).
RpcClientOptions TlsClient(const TestTask& task, TlsSettings tls, std::string token = test::kToken) {
  RpcClientOptions o = ClientFor(*task.server, std::move(token));
  o.address = "localhost:" + std::to_string(task.server->port());
  o.tls = std::move(tls);
  o.connect_timeout = 5000ms;
  return o;
}

// Sums [1, 2, 3] through the task's echo service: a call only a logged-in
// client gets served.
StatusOr<double> EchoSum(RpcClient& client, kj::AsyncIoContext& io) {
  auto cap = WaitFor(client.GetService("echo"), io.waitScope, "echo service");
  if (!cap.ok()) return cap.status();
  auto request = cap->castAs<test::Echo>().echoRequest();
  Tensor t = Tensor::FromVector<float>(Shape{3}, {1, 2, 3});
  auto written = WriteTensor(t, request.initTensor(), TensorWireOptions::Copying());
  if (!written.ok()) return written.status();
  auto response = WaitFor(client.Call(request.send(), "echo"), io.waitScope, "echo");
  if (!response.ok()) return response.status();
  return response->getSum();
}

// The lines of `hub` that contain `text`, once there is one (the server logs
// on its own thread) or `limit` has passed.
// EchoSum through a new client with `options`.
StatusOr<double> EchoOver(kj::AsyncIoContext& io, RpcClientOptions options) {
  RpcClient client(io, std::move(options));
  return EchoSum(client, io);
}

int LoggedWithin(const LogHub& hub, const std::string& text, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (CountLines(hub, text) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  return CountLines(hub, text);
}

}  // namespace

TEST_CASE("over TLS a client with the cluster's CA and certificate is served, and the token is still required") {
  TestPki pki;
  REQUIRE_PKI(pki);
  TestTask task("/job:ps/task:0", 256, "127.0.0.1:0", {}, pki.Raw("node", "ca"));
  auto io = kj::setupAsyncIo();

  auto sum = EchoOver(io, TlsClient(task, pki.Raw("node", "ca")));
  INFO(sum.status().ToString());
  REQUIRE(sum.ok());
  CHECK(*sum == 6.0);
  CHECK(CountLines(task.hub, "over mutual TLS") == 1);

  auto refused = EchoOver(io, TlsClient(task, pki.Raw("node", "ca"), "not-the-token"));
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(), Catch::Contains(kLoginRefused));
}

TEST_CASE("a client that trusts another CA refuses the daemon with a TLS error and no call is served") {
  TestPki pki;
  REQUIRE_PKI(pki);
  TestTask task("/job:ps/task:0", 256, "127.0.0.1:0", {}, pki.Raw("node", "ca"));
  auto io = kj::setupAsyncIo();
  // A stranger's consistent PKI, with the right token: only TLS keeps it out.
  auto sum = EchoOver(io, TlsClient(task, pki.Raw("other", "other-ca")));
  REQUIRE_FALSE(sum.ok());
  CHECK_THAT(sum.status().message(), Catch::Contains("TLS handshake with localhost failed"));
  CHECK_THAT(sum.status().message(), Catch::Contains("signed by the cluster CA"));
  CHECK_THAT(sum.status().message(), Catch::Contains("not trusted"));

  // The daemon still serves a member of the cluster.
  CHECK(EchoOver(io, TlsClient(task, pki.Raw("node", "ca"))).ok());
}

TEST_CASE("a client whose certificate another CA signed is refused by the daemon, which logs it and keeps serving") {
  TestPki pki;
  REQUIRE_PKI(pki);
  TestTask task("/job:ps/task:0", 256, "127.0.0.1:0", {}, pki.Raw("node", "ca"));
  auto io = kj::setupAsyncIo();
  // Trusts the cluster CA (so it accepts the daemon) but shows a foreign certificate.
  auto sum = EchoOver(io, TlsClient(task, pki.Raw("other", "ca")));
  REQUIRE_FALSE(sum.ok());
  INFO(sum.status().ToString());
  CHECK(LoggedWithin(task.hub, "TLS handshake refused (a client must present a certificate signed by the cluster CA)",
                     5s) == 1);

  auto served = EchoOver(io, TlsClient(task, pki.Raw("node", "ca")));
  INFO(served.status().ToString());
  CHECK(served.ok());
}

TEST_CASE("a plain TCP client of a TLS daemon is refused and the daemon keeps serving") {
  TestPki pki;
  REQUIRE_PKI(pki);
  TestTask task("/job:ps/task:0", 256, "127.0.0.1:0", {}, pki.Raw("node", "ca"));
  auto io = kj::setupAsyncIo();
  RpcClientOptions plain = ClientFor(*task.server);  // the right token, no TLS
  plain.connect_timeout = 3000ms;
  auto sum = EchoOver(io, plain);
  REQUIRE_FALSE(sum.ok());
  INFO(sum.status().ToString());
  CHECK(LoggedWithin(task.hub, "TLS handshake refused", 5s) == 1);

  CHECK(EchoOver(io, TlsClient(task, pki.Raw("node", "ca"))).ok());
}

TEST_CASE("a TLS client of a plain daemon fails with a TLS error") {
  TestPki pki;
  REQUIRE_PKI(pki);
  TestTask task("/job:ps/task:0");
  auto io = kj::setupAsyncIo();
  RpcClientOptions o = TlsClient(task, pki.Raw("node", "ca"));
  o.connect_timeout = 3000ms;
  auto sum = EchoOver(io, o);
  REQUIRE_FALSE(sum.ok());
  INFO(sum.status().ToString());
  CHECK_THAT(sum.status().message(), Catch::Contains("TLS handshake with localhost failed"));
}

TEST_CASE("the daemon's certificate must name the host dialled, or the cluster's server_name") {
  TestPki pki;
  REQUIRE_PKI(pki);
  // This daemon's certificate names only "flowps-cluster".
  TestTask task("/job:ps/task:0", 256, "127.0.0.1:0", {}, pki.Raw("unnamed", "ca"));
  auto io = kj::setupAsyncIo();

  auto refused = EchoOver(io, TlsClient(task, pki.Raw("node", "ca")));
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(), Catch::Contains("name 'localhost'"));
  CHECK_THAT(refused.status().message(), Catch::Contains("hostname mismatch"));

  auto served = EchoOver(io, TlsClient(task, pki.Raw("node", "ca", "flowps-cluster")));
  INFO(served.status().ToString());
  CHECK(served.ok());

  // An IP address is never checked as a name: dialling one needs server_name.
  RpcClientOptions by_ip = TlsClient(task, pki.Raw("node", "ca"));
  by_ip.address = task.server->address();
  auto ip = EchoOver(io, by_ip);
  REQUIRE_FALSE(ip.ok());
  CHECK_THAT(ip.status().message(), Catch::Contains("server_name"));
}

TEST_CASE("a TLS handshake that never starts is closed by the idle deadline") {
  TestPki pki;
  REQUIRE_PKI(pki);
  ConnectionLimits limits;
  limits.login_timeout = 1500ms;
  limits.idle_before_login = 400ms;
  TestTask task("/job:ps/task:0", 256, "127.0.0.1:0", limits, pki.Raw("node", "ca"));

  int silent = RawConnect(task.server->port());
  REQUIRE(silent >= 0);
  auto start = std::chrono::steady_clock::now();
  CHECK(ClosedWithin(silent, 3000ms));
  CHECK(std::chrono::steady_clock::now() - start < 1500ms);
  ::close(silent);
  CHECK(LoggedWithin(task.hub, "it sent nothing for 400 ms before logging in", 5s) >= 1);

}

TEST_CASE("beyond the limit of connections without a login the oldest TLS handshakes are dropped and a member gets in") {
  TestPki pki;
  REQUIRE_PKI(pki);
  ConnectionLimits limits;
  limits.login_timeout = 30s;
  limits.idle_before_login = 30s;
  limits.max_unauthenticated = 4;
  TestTask task("/job:ps/task:0", 256, "127.0.0.1:0", limits, pki.Raw("node", "ca"));
  std::vector<int> fds;
  for (int i = 0; i < 12; ++i) {
    fds.push_back(RawConnect(task.server->port()));
    REQUIRE(fds.back() >= 0);
  }
  auto io = kj::setupAsyncIo();
  auto served = EchoOver(io, TlsClient(task, pki.Raw("node", "ca")));
  INFO(served.status().ToString());
  CHECK(served.ok());
  int closed = 0;
  for (int fd : fds) {
    closed += ClosedWithin(fd, 200ms) ? 1 : 0;
    ::close(fd);
  }
  // 12 strangers and one member: at most 4 may wait for a login at a time.
  CHECK(closed >= 12 - 4);
}

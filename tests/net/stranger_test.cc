// What a stranger (a peer without the cluster token) can do to a server:
// connections that never log in are bounded in number and time, they may
// send only small messages, and wrong logins are slowed down and logged
// sparingly. In-process servers with short limits.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include "net/connection_guard.h"
#include "net/login_throttle.h"
#include "test_server.h"

using namespace flowps;
using namespace std::chrono_literals;
using flowps::test::ClientFor;
using flowps::test::ClosedWithin;
using flowps::test::CountLines;
using flowps::test::RawConnect;
using flowps::test::TestTask;

namespace {

// The first word of a Cap'n Proto frame: one segment of `words` words.
void SendFrameHeader(int fd, uint32_t words) {
  uint32_t header[2] = {0, words};  // segment count - 1, size of segment 0 (little-endian host)
  REQUIRE(::send(fd, header, sizeof header, MSG_NOSIGNAL) == sizeof header);
}

ConnectionLimits ShortLimits() {
  ConnectionLimits limits;
  limits.login_timeout = 1500ms;
  limits.idle_before_login = 400ms;
  limits.login_failure_delay = 100ms;
  limits.max_login_failure_delay = 2000ms;
  return limits;
}

}  // namespace

TEST_CASE("a connection that sends half a frame and then nothing is closed after the idle timeout") {
  TestTask task("/job:ps/task:0", 256, "127.0.0.1:0", ShortLimits());
  int fd = RawConnect(task.server->port());
  REQUIRE(fd >= 0);
  SendFrameHeader(fd, 16);  // announces 128 bytes, sends none of them
  auto start = std::chrono::steady_clock::now();
  CHECK(ClosedWithin(fd, 3000ms));
  CHECK(std::chrono::steady_clock::now() - start < 1500ms);
  ::close(fd);
}

TEST_CASE("a connection that keeps trickling bytes but never logs in is closed at the login timeout") {
  TestTask task("/job:ps/task:0", 256, "127.0.0.1:0", ShortLimits());
  int fd = RawConnect(task.server->port());
  REQUIRE(fd >= 0);
  SendFrameHeader(fd, 1000);
  auto start = std::chrono::steady_clock::now();
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() - start < 4s) {
    char byte = 0;
    if (::send(fd, &byte, 1, MSG_NOSIGNAL) != 1) break;  // closed under us
    closed = ClosedWithin(fd, 100ms);
  }
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  CHECK(CountLines(task.hub, "closed the connection from 127.0.0.1") == 1);
  CHECK(CountLines(task.hub, "it did not log in within 1500 ms") >= 1);
  ::close(fd);
}

TEST_CASE("beyond the limit of connections without a login the oldest are closed and a client with the token still gets in") {
  ConnectionLimits limits = ShortLimits();
  limits.max_unauthenticated = 8;
  limits.login_timeout = 30s;
  limits.idle_before_login = 30s;
  TestTask task("/job:ps/task:0", 256, "127.0.0.1:0", limits);
  std::vector<int> fds;
  for (int i = 0; i < 40; ++i) {
    int fd = RawConnect(task.server->port());
    REQUIRE(fd >= 0);
    fds.push_back(fd);
  }
  auto io = kj::setupAsyncIo();
  RpcClient client(io, ClientFor(*task.server));
  auto health = WaitFor(client.Health(), io.waitScope, "health");
  REQUIRE(health.ok());
  int closed = 0;
  for (int fd : fds) closed += ClosedWithin(fd, 200ms) ? 1 : 0;
  // 40 strangers and one client: at most 8 may wait for a login at a time.
  CHECK(closed >= 40 - 8);
  for (int fd : fds) ::close(fd);
}

TEST_CASE("a message claiming a huge segment before login closes the connection before it is read") {
  TestTask task("/job:ps/task:0", 256, "127.0.0.1:0", ShortLimits());
  int fd = RawConnect(task.server->port());
  REQUIRE(fd >= 0);
  SendFrameHeader(fd, uint32_t{1} << 27);  // 1 GiB
  CHECK(ClosedWithin(fd, 1000ms));
  ::close(fd);
  auto io = kj::setupAsyncIo();
  RpcClient client(io, ClientFor(*task.server));
  CHECK(WaitFor(client.Health(), io.waitScope, "health").ok());
}

TEST_CASE("a large call is still served after login") {
  TestTask task("/job:ps/task:0", 256, "127.0.0.1:0", ShortLimits());
  auto io = kj::setupAsyncIo();
  RpcClient client(io, ClientFor(*task.server));
  // A service name of 256 KiB: more than a stranger may send.
  auto session = WaitFor(client.GetSession(), io.waitScope, "login");
  REQUIRE(session.ok());
  auto request = session->serviceRequest();
  request.setName(std::string(1 << 18, 'x'));
  auto r = WaitFor(request.send().ignoreResult(), io.waitScope, "service");
  CHECK(r.code() == Code::kInvalidArgument);  // "no service named ...", not a dropped connection
}

TEST_CASE("wrong logins on one connection are answered ever more slowly and logged a few times") {
  ConnectionLimits limits = ShortLimits();
  limits.login_timeout = 10s;
  TestTask task("/job:ps/task:0", 1024, "127.0.0.1:0", limits);
  auto io = kj::setupAsyncIo();
  auto address = io.provider->getNetwork().parseAddress("127.0.0.1", task.server->port()).wait(io.waitScope);
  auto stream = address->connect().wait(io.waitScope);
  capnp::TwoPartyClient rpc(*stream);
  auto gate = rpc.bootstrap().castAs<wire::Gate>();
  int refused = 0;
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < 1500ms) {
    auto request = gate.loginRequest();
    request.setToken("guess");
    auto r = WaitFor(request.send().ignoreResult(), io.waitScope, "login");
    REQUIRE(r.code() == Code::kUnauthenticated);
    ++refused;
  }
  // 100 + 200 + 400 + 800 ms: about 4 answers in 1.5 s (thousands without the delay).
  CHECK(refused <= 5);
  CHECK(CountLines(task.hub, "refused a login") <= 5);

  // A client with the token is not slowed down by the stranger's failures.
  RpcClient client(io, ClientFor(*task.server));
  auto login_start = std::chrono::steady_clock::now();
  CHECK(WaitFor(client.Health(), io.waitScope, "health").ok());
  CHECK(std::chrono::steady_clock::now() - login_start < 500ms);
}

TEST_CASE("pipelined logins on one connection close it") {
  TestTask task("/job:ps/task:0", 256, "127.0.0.1:0", ShortLimits());
  auto io = kj::setupAsyncIo();
  auto address = io.provider->getNetwork().parseAddress("127.0.0.1", task.server->port()).wait(io.waitScope);
  auto stream = address->connect().wait(io.waitScope);
  capnp::TwoPartyClient rpc(*stream);
  auto gate = rpc.bootstrap().castAs<wire::Gate>();
  std::vector<kj::Promise<void>> answers;
  for (int i = 0; i < 20; ++i) {
    auto request = gate.loginRequest();
    request.setToken("guess");
    answers.push_back(request.send().ignoreResult());
  }
  for (auto& a : answers) CHECK(!WaitFor(kj::mv(a), io.waitScope, "login").ok());
  // Only the first token was checked, and the connection is gone.
  CHECK(CountLines(task.hub, "refused a login") == 1);
  auto request = gate.loginRequest();
  request.setToken(flowps::test::kToken);
  CHECK(WaitFor(request.send().ignoreResult(), io.waitScope, "login").code() == Code::kUnavailable);
}

TEST_CASE("the frame check follows the framing across reads of any size") {
  // Two messages: 2 segments (1 + 2 words, table padded to 16 bytes), then one of 1 word.
  std::vector<unsigned char> bytes = {1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0};
  bytes.resize(bytes.size() + 24, 0xAB);
  for (unsigned char b : {0, 0, 0, 0, 1, 0, 0, 0}) bytes.push_back(b);
  bytes.resize(bytes.size() + 8, 0xCD);
  for (size_t step : {size_t{1}, size_t{3}, size_t{7}, bytes.size()}) {
    FrameSizeCheck check(24);
    for (size_t at = 0; at < bytes.size(); at += step)
      REQUIRE(check.Feed(bytes.data() + at, std::min(step, bytes.size() - at)));
  }
  FrameSizeCheck small(16);  // the first message is 24 bytes
  CHECK(!small.Feed(bytes.data(), bytes.size()));
  CHECK_THAT(small.error(), Catch::Contains("24 bytes before login"));
  unsigned char many[8] = {0, 2, 0, 0, 0, 0, 0, 0};  // 513 segments
  FrameSizeCheck segments(1 << 20);
  CHECK(!segments.Feed(many, sizeof many));
}

TEST_CASE("the login delay doubles per failure up to its cap and a peer is forgotten after a quiet minute") {
  LoginThrottle throttle(100ms, 1000ms);
  auto t0 = std::chrono::steady_clock::now();
  CHECK(throttle.DelayFor(1) == 100ms);
  CHECK(throttle.DelayFor(3) == 400ms);
  CHECK(throttle.DelayFor(40) == 1000ms);
  CHECK(throttle.RecordFailure("10.0.0.1", t0) == 1);
  CHECK(throttle.RecordFailure("10.0.0.1", t0 + 1s) == 2);
  CHECK(throttle.RecordFailure("10.0.0.2", t0 + 1s) == 1);
  CHECK(throttle.RecordFailure("10.0.0.1", t0 + 120s) == 1);
}

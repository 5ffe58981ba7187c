// A real flowps-ps with few descriptors against strangers: idle connections
// cannot stop it, huge messages before login cost it no memory, and when it
// can no longer accept connections it exits non-zero (so that a supervisor
// restarts it) instead of living on without serving.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include <kj/async-io.h>

#include "net/rpc_client.h"
#include "test_process.h"

using namespace flowps;
using namespace std::chrono_literals;
using flowps::test::Process;
using flowps::test::Slurp;

namespace {

constexpr const char* kDaemonToken = "stranger-test-token";

std::string BinDir() {
  if (const char* env = std::getenv("FLOWPS_BIN_DIR")) return env;
  return FLOWPS_BIN_DIR;
}

// One ps (and the worker a spec needs, never started) on free loopback ports,
// in a temporary folder removed at the end; the ps runs with `max_open_files`.
struct Daemon {
  explicit Daemon(rlim_t max_open_files) : port(FreeLoopbackPort()) {
    char tmpl[] = "/tmp/flowps_stranger_XXXXXX";
    dir = mkdtemp(tmpl);
    std::ofstream(dir + "/token") << kDaemonToken << "\n";
    std::ofstream(dir + "/cluster.yaml") << "token_file: token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:"
                                         << port << "\n  worker:\n    tasks:\n      - address: 127.0.0.1:"
                                         << FreeLoopbackPort() << "\n";
    ps = std::make_unique<Process>(
        std::vector<std::string>{BinDir() + "/flowps-ps", "--cluster", dir + "/cluster.yaml", "--task", "0",
                                 "--threads", "1"},
        log(), max_open_files);
  }
  ~Daemon() {
    ps.reset();
    std::filesystem::remove_all(dir);
  }
  std::string log() const { return dir + "/ps.log"; }

  RpcClientOptions Client() const {
    RpcClientOptions o;
    o.address = "127.0.0.1:" + std::to_string(port);
    o.token = kDaemonToken;
    o.connect_timeout = 2000ms;
    o.call_timeout = 5000ms;
    return o;
  }
  // Whether the daemon answers a health call within `limit` (retrying).
  bool Healthy(std::chrono::seconds limit) {
    auto io = kj::setupAsyncIo();
    RpcClient client(io, Client());
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (WaitFor(client.Health(), io.waitScope, "health").ok()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  // A status line of /proc/<pid>/status in KiB ("VmRSS", "VmSize").
  long StatusKiB(const std::string& key) const {
    std::ifstream in("/proc/" + std::to_string(ps->pid) + "/status");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
    return -1;
  }

  int port;
  std::string dir;
  std::unique_ptr<Process> ps;
};

// An idle TCP connection to 127.0.0.1:port (the kernel completes it even
// before the daemon accepts it); -1 if none could be made.
int IdleConnection(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct Fds {
  ~Fds() {
    for (int fd : fds) ::close(fd);
  }
  std::vector<int> fds;
};

}  // namespace

TEST_CASE("a daemon with 64 descriptors keeps serving while 300 strangers hold idle connections") {
  Daemon daemon(64);
  REQUIRE(daemon.Healthy(20s));
  Fds strangers;
  for (int i = 0; i < 300; ++i) {
    int fd = IdleConnection(daemon.port);
    if (fd >= 0) strangers.fds.push_back(fd);
  }
  REQUIRE(strangers.fds.size() >= 200);
  std::this_thread::sleep_for(500ms);  // the daemon accepts (and closes) what it can
  INFO(Slurp(daemon.log()));
  CHECK(daemon.Healthy(10s));
  CHECK(daemon.ps->Wait(0s) == -1);  // still running
}

TEST_CASE("a daemon that cannot accept any connection exits with status 1 instead of living on without serving") {
  // The smallest descriptor limit a ps starts with leaves it none to accept
  // a connection with: accept() fails (EMFILE) and there is no stranger to
  // close for room.
  for (rlim_t limit = 8; limit <= 64; ++limit) {
    Daemon daemon(limit);
    bool listening = false;
    for (int i = 0; i < 100 && !listening && daemon.ps->pid > 0; ++i) {
      listening = Slurp(daemon.log()).find("listening on") != std::string::npos;
      if (!listening) std::this_thread::sleep_for(50ms);
    }
    if (!listening) continue;  // too few to start: it exited 1 on its own
    Fds peers;
    peers.fds.push_back(IdleConnection(daemon.port));
    const int status = daemon.ps->Wait(30s);  // after the 10 s accept stall limit
    INFO("descriptor limit " << limit << "\n" << Slurp(daemon.log()));
    REQUIRE(status != -1);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);
    CHECK_THAT(Slurp(daemon.log()), Catch::Contains("so that a supervisor restarts the task"));
    return;
  }
  FAIL("flowps-ps did not start with any descriptor limit up to 64");
}

TEST_CASE("strangers claiming huge messages before login are cut off and the daemon's memory does not grow") {
  Daemon daemon(1024);
  REQUIRE(daemon.Healthy(20s));
  const long rss_before = daemon.StatusKiB("VmRSS");
  const long size_before = daemon.StatusKiB("VmSize");
  std::vector<char> chunk(1 << 20, 'x');
  for (int c = 0; c < 4; ++c) {
    int fd = IdleConnection(daemon.port);
    REQUIRE(fd >= 0);
    int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    uint32_t header[2] = {0, uint32_t{1} << 27};  // one segment of 1 GiB
    ::send(fd, header, sizeof header, MSG_NOSIGNAL);
    // Up to 64 MiB of it; the daemon closes the connection long before.
    for (int i = 0; i < 64; ++i)
      if (::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0) break;
    ::close(fd);
  }
  CHECK(daemon.Healthy(10s));
  const long rss_after = daemon.StatusKiB("VmRSS");
  const long size_after = daemon.StatusKiB("VmSize");
  INFO("RSS " << rss_before << " -> " << rss_after << " KiB, size " << size_before << " -> " << size_after << " KiB");
  CHECK(rss_after - rss_before < 16 * 1024);
  CHECK(size_after - size_before < 256 * 1024);
}

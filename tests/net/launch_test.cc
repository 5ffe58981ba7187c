// flowps launch / status / logs and the task programs, run as processes.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <kj/async-io.h>

#include "common/child_process.h"
#include "net/rpc_client.h"

using namespace flowps;
using namespace flowps::testing;

namespace {

std::string BinDir() {
  if (const char* env = std::getenv("FLOWPS_BIN_DIR")) return env;
  return FLOWPS_BIN_DIR;
}

// A cluster spec of one ps and two workers on free loopback ports, in a
// temporary folder removed at the end.
struct LocalCluster {
  explicit LocalCluster(std::vector<int> ports = {FreePort(), FreePort(), FreePort()}) : ports(std::move(ports)) {
    char tmpl[] = "/tmp/flowps_launch_XXXXXX";
    dir = mkdtemp(tmpl);
    std::ofstream(dir + "/token") << "launch-test-token\n";
    std::ofstream(dir + "/cluster.yaml") << "token_file: token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:"
                                         << this->ports[0] << "\n  worker:\n    tasks:\n      - address: 127.0.0.1:"
                                         << this->ports[1] << "\n      - address: 127.0.0.1:" << this->ports[2] << "\n";
  }
  ~LocalCluster() { std::filesystem::remove_all(dir); }
  std::string spec() const { return dir + "/cluster.yaml"; }
  std::vector<int> ports;
  std::string dir;
};

}  // namespace

TEST_CASE("flowps launch starts every task, status and logs see them, and SIGTERM leaves no process behind") {
  LocalCluster cluster;
  Process launch({BinDir() + "/flowps", "launch", cluster.spec()}, cluster.dir + "/launch.out");
  REQUIRE(launch.pid > 0);

  // Wait (bounded) until every task answers; collect their PIDs.
  auto io = kj::setupAsyncIo();
  std::vector<uint32_t> pids;
  for (int port : cluster.ports) {
    RpcClientOptions o;
    o.address = "127.0.0.1:" + std::to_string(port);
    o.token = "launch-test-token";
    o.connect_timeout = std::chrono::milliseconds(1000);
    RpcClient client(io, o);
    StatusOr<TaskHealth> h = Unavailable("not asked yet");
    for (int i = 0; i < 300 && !h.ok(); ++i) {
      h = WaitFor(client.Health(), io.waitScope, "health");
      if (!h.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    INFO(Slurp(cluster.dir + "/launch.out"));
    REQUIRE(h.ok());
    pids.push_back(h->pid);
  }
  REQUIRE(pids.size() == 3);
  for (uint32_t pid : pids) CHECK(Alive(static_cast<pid_t>(pid)));
  // flowps launch reports them healthy too.
  for (int i = 0; i < 300 && Slurp(cluster.dir + "/launch.out").find("3 local tasks are healthy") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_THAT(Slurp(cluster.dir + "/launch.out"), Catch::Contains("all 3 local tasks are healthy"));

  auto [status_code, status_out] = Run({BinDir() + "/flowps", "status", "--cluster", cluster.spec()},
                                       cluster.dir + "/status.out");
  CHECK(status_code == 0);
  CHECK_THAT(status_out, Catch::Contains("3 of 3 tasks healthy"));

  auto [logs_code, logs_out] = Run({BinDir() + "/flowps", "logs", "--cluster", cluster.spec()}, cluster.dir + "/logs.out");
  CHECK(logs_code == 0);
  for (const char* task : {"/job:ps/task:0 info [net]", "/job:worker/task:0 info [net]", "/job:worker/task:1 info [net]"})
    CHECK_THAT(logs_out, Catch::Contains(task));

  REQUIRE(kill(launch.pid, SIGTERM) == 0);
  int status = launch.Wait(std::chrono::seconds(30));
  INFO(Slurp(cluster.dir + "/launch.out"));
  REQUIRE(status != -1);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  for (uint32_t pid : pids) CHECK_FALSE(Alive(static_cast<pid_t>(pid)));
  CHECK_THAT(Slurp(cluster.dir + "/launch.out"), Catch::Contains("all tasks stopped"));

  auto [down_code, down_out] = Run({BinDir() + "/flowps", "status", "--cluster", cluster.spec(), "--json"},
                                   cluster.dir + "/status2.out");
  CHECK(down_code == 1);
  CHECK_THAT(down_out, Catch::StartsWith("{\"healthy\":false,"));
}

TEST_CASE("when a task cannot start, flowps launch stops the others, reaps them and fails") {
  // The ps port is taken by a listener of ours, so flowps-ps cannot serve.
  int taken = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(taken, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(taken, 1) == 0);
  socklen_t len = sizeof a;
  getsockname(taken, reinterpret_cast<sockaddr*>(&a), &len);
  LocalCluster cluster({ntohs(a.sin_port), FreePort(), FreePort()});
  Process launch({BinDir() + "/flowps", "launch", cluster.spec()}, cluster.dir + "/launch.out");
  int status = launch.Wait(std::chrono::seconds(60));
  close(taken);
  std::string out = Slurp(cluster.dir + "/launch.out");
  INFO(out);
  REQUIRE(status != -1);
  CHECK(WEXITSTATUS(status) == 1);
  CHECK_THAT(out, Catch::Contains("/job:ps/task:0"));
  CHECK_THAT(out, Catch::Contains("exited with code 1; stopping the others"));
  // Every task it started is gone: their PIDs are in its report.
  std::istringstream lines(out);
  std::string line;
  int started = 0;
  while (std::getline(lines, line)) {
    auto at = line.find("(pid ");
    if (line.find("flowps launch: started") == std::string::npos || at == std::string::npos) continue;
    ++started;
    CHECK_FALSE(Alive(static_cast<pid_t>(std::stol(line.substr(at + 5)))));
  }
  CHECK(started == 3);
}

TEST_CASE("a task program given a bad spec exits 2 naming file, line and key") {
  LocalCluster cluster;
  std::ofstream(cluster.dir + "/bad.yaml") << "token_file: token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:99999\n";
  auto [code, out] = Run({BinDir() + "/flowps-ps", "--cluster", cluster.dir + "/bad.yaml", "--task", "0"},
                         cluster.dir + "/ps.out");
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains(cluster.dir + "/bad.yaml:5: key 'jobs.ps.tasks[0].address' address '127.0.0.1:99999' "
                                                "has a bad port 99999 (must be 1..65535)"));
  auto [code2, out2] = Run({BinDir() + "/flowps-worker", "--cluster", cluster.spec(), "--task", "5"},
                           cluster.dir + "/worker.out");
  CHECK(code2 == 2);
  CHECK_THAT(out2, Catch::Contains("job 'worker' has tasks 0..1, not 5"));
}

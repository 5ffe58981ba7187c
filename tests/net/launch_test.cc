// flowps launch / status / logs and the task programs, run as processes.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
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

#include "net/rpc_client.h"
#include "test_process.h"

using namespace flowps;
using flowps::FreeLoopbackPort;
using flowps::test::Process;
using flowps::test::Slurp;

namespace {

std::string BinDir() {
  if (const char* env = std::getenv("FLOWPS_BIN_DIR")) return env;
  return FLOWPS_BIN_DIR;
}

// A cluster spec of one ps and two workers on free loopback ports, in a
// temporary folder removed at the end.
struct LocalCluster {
  explicit LocalCluster(std::vector<int> ports = {FreeLoopbackPort(), FreeLoopbackPort(), FreeLoopbackPort()}) : ports(std::move(ports)) {
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

// Runs a command to completion and returns its exit code and output.
std::pair<int, std::string> Run(std::vector<std::string> args, const std::string& output) {
  Process p(std::move(args), output);
  int status = p.Wait(std::chrono::seconds(60));
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, Slurp(output)};
}

bool Alive(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

// The PIDs of the tasks a launch reported as started.
std::vector<pid_t> StartedPids(const std::string& launch_output) {
  std::istringstream lines(launch_output);
  std::string line;
  std::vector<pid_t> pids;
  while (std::getline(lines, line)) {
    auto at = line.find("(pid ");
    if (line.find("flowps launch: started") != std::string::npos && at != std::string::npos)
      pids.push_back(static_cast<pid_t>(std::stol(line.substr(at + 5))));
  }
  return pids;
}

// Waits (bounded) until `launch_output_file` says every task is healthy.
bool WaitHealthyReport(const std::string& launch_output_file) {
  for (int i = 0; i < 300; ++i) {
    if (Slurp(launch_output_file).find("local tasks are healthy") != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

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
  CHECK(WaitHealthyReport(cluster.dir + "/launch.out"));
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
  LocalCluster cluster({ntohs(a.sin_port), FreeLoopbackPort(), FreeLoopbackPort()});
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
  std::vector<pid_t> started = StartedPids(out);
  CHECK(started.size() == 3);
  for (pid_t pid : started) CHECK_FALSE(Alive(pid));
}

TEST_CASE("when flowps launch itself is killed, its tasks stop cleanly too") {
  // Orphaned tasks become this test's children, so it can reap them and see how they ended.
  REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  LocalCluster cluster;
  Process launch({BinDir() + "/flowps", "launch", cluster.spec()}, cluster.dir + "/launch.out");
  REQUIRE(WaitHealthyReport(cluster.dir + "/launch.out"));
  std::vector<pid_t> tasks = StartedPids(Slurp(cluster.dir + "/launch.out"));
  REQUIRE(tasks.size() == 3);
  REQUIRE(kill(launch.pid, SIGKILL) == 0);
  launch.Wait(std::chrono::seconds(10));
  for (pid_t pid : tasks) {
    int status = -1;
    for (int i = 0; i < 500 && waitpid(pid, &status, WNOHANG) != pid; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    INFO("task pid " << pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    if (Alive(pid)) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
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

#include "bench/local_cluster.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>
#include <vector>

#include <kj/async-io.h>

#include "net/loopback_port.h"
#include "worker/job_client.h"

namespace flowps {
namespace {

std::string BinDir(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("FLOWPS_BIN_DIR")) return env;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

std::string WriteSpec(const std::string& dir, int ps, int workers) {
  std::ofstream(dir + "/bench.token") << "local-cluster-bench\n";
  std::string yaml = "token_file: bench.token\njobs:\n  ps:\n    tasks:\n";
  for (int i = 0; i < ps; ++i) yaml += "      - address: 127.0.0.1:" + std::to_string(FreeLoopbackPort()) + "\n";
  yaml += "  worker:\n    chief: 0\n    tasks:\n";
  for (int i = 0; i < workers; ++i)
    yaml += "      - address: 127.0.0.1:" + std::to_string(FreeLoopbackPort()) + "\n        devices: [cpu:0]\n";
  const std::string path = dir + "/cluster.yaml";
  std::ofstream(path) << yaml;
  return path;
}

}  // namespace

StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(const LocalClusterOptions& o) {
  std::unique_ptr<LocalCluster> c(new LocalCluster());
  char dir_template[] = "/tmp/flowps-bench-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return Unavailable("bench: cannot create a folder in /tmp");
  c->dir_ = dir_template;
  const std::string spec_path = WriteSpec(c->dir_, o.ps, o.workers);
  FLOWPS_ASSIGN_OR_RETURN(c->spec_, LoadClusterSpec(spec_path));
  const std::string flowps = BinDir(o.bin_dir) + "/flowps";
  if (access(flowps.c_str(), X_OK) != 0)
    return NotFound("bench: no flowps program at " + flowps + " (set FLOWPS_BIN_DIR)");
  const std::string log = c->dir_ + "/launch.log";
  c->launch_ = fork();
  if (c->launch_ < 0) return Unavailable("bench: fork failed");
  if (c->launch_ == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<std::string> args = {flowps, "launch", spec_path, "--log-level", "warn"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  auto io = kj::setupAsyncIo();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.ready_seconds);
  while (true) {
    bool all = true;
    for (const WorkerReport& r : QueryWorkers(io, c->spec_, std::chrono::milliseconds(500))) all = all && r.status.ok();
    if (all) return c;
    if (waitpid(c->launch_, nullptr, WNOHANG) == c->launch_) {
      c->launch_ = -1;
      return Unavailable("bench: flowps launch ended before the cluster was up; see " + log);
    }
    if (std::chrono::steady_clock::now() > deadline)
      return Unavailable("bench: the local cluster was not up within " + std::to_string(o.ready_seconds) +
                         " s; see " + log);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

std::vector<LocalCluster::Task> LocalCluster::Tasks() const {
  std::vector<Task> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = entry.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(entry.path() / "status");
    std::string line;
    Task task;
    int64_t ppid = -1;
    while (std::getline(status, line)) {
      if (line.rfind("Name:", 0) == 0) task.name = line.substr(line.find_first_not_of(" \t", 5));
      if (line.rfind("PPid:", 0) == 0) ppid = std::atoll(line.c_str() + 5);
      if (line.rfind("VmRSS:", 0) == 0) task.rss_bytes = std::atoll(line.c_str() + 6) * 1024;
    }
    task.pid = std::atoll(pid.c_str());
    if (ppid == launch_) found.push_back(task);
  }
  std::sort(found.begin(), found.end(), [](const Task& a, const Task& b) { return a.pid < b.pid; });
  return found;
}

std::vector<int64_t> LocalCluster::WorkerRssBytes() const {
  std::vector<int64_t> rss;
  for (const Task& t : Tasks())
    if (t.name.rfind("flowps-worker", 0) == 0 && t.rss_bytes >= 0) rss.push_back(t.rss_bytes);
  return rss;
}

ProcessCounters LocalCluster::TaskCounters() const {
  ProcessCounters sum;
  const double us_per_tick = 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
  for (const Task& t : Tasks()) {
    const std::string dir = "/proc/" + std::to_string(t.pid);
    std::ifstream stat(dir + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const size_t after_name = text.rfind(')');
    if (after_name == std::string::npos) continue;
    std::istringstream fields(text.substr(after_name + 2));  // from field 3 (state) on
    std::string field;
    int64_t utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i == 14) utime = std::atoll(field.c_str());
      if (i == 15) stime = std::atoll(field.c_str());
    }
    sum.cpu_us += static_cast<double>(utime + stime) * us_per_tick;
    std::error_code ec;
    for (const auto& thread : std::filesystem::directory_iterator(dir + "/task", ec)) {
      std::ifstream status(thread.path() / "status");
      std::string line;
      while (std::getline(status, line)) {
        if (line.rfind("voluntary_ctxt_switches:", 0) == 0) sum.voluntary_switches += std::atoll(line.c_str() + 24);
        if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
          sum.involuntary_switches += std::atoll(line.c_str() + 27);
      }
    }
    sum.AddIoCalls(dir + "/io");
  }
  return sum;
}

LocalCluster::~LocalCluster() {
  if (launch_ > 0) {
    kill(launch_, SIGTERM);  // flowps launch stops every task, then exits
    int status = 0;
    for (int i = 0; i < 200 && waitpid(launch_, &status, WNOHANG) != launch_; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (waitpid(launch_, &status, WNOHANG) == 0) {
      kill(launch_, SIGKILL);
      waitpid(launch_, &status, 0);
    }
  }
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

}  // namespace flowps

#include "cli/launch_command.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/cluster_health.h"

namespace flowps {
namespace {

struct LaunchOptions {
  std::string cluster;
  std::string log_level = "info";
  int wait_s = 30;
  std::string bin_dir;  // where flowps-ps and flowps-worker are; default: next to this program
};

struct Child {
  TaskSpec task;
  pid_t pid = -1;
  bool running = false;
};

void Say(const std::string& line) { std::cout << "flowps launch: " << line << std::endl; }

std::string DefaultBinDir() {
  if (const char* env = std::getenv("FLOWPS_BIN_DIR")) return env;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by ") + strsignal(WTERMSIG(status));
  return "stopped";
}

// Starts one task; the child gets SIGTERM if this process dies first.
StatusOr<pid_t> Spawn(const std::string& binary, const LaunchOptions& o, const TaskSpec& task,
                      const sigset_t& original_mask) {
  std::vector<std::string> args = {binary, "--cluster", o.cluster, "--task", std::to_string(task.index),
                                   "--log-level", o.log_level};
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return Unavailable(std::string("fork failed: ") + strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    sigprocmask(SIG_SETMASK, &original_mask, nullptr);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    std::cerr << "flowps launch: cannot run " << binary << ": " << strerror(errno) << std::endl;
    _exit(127);
  }
  return pid;
}

// Reaps the children that have exited, with their wait statuses.
std::vector<std::pair<const Child*, int>> ReapExited(std::vector<Child>& children) {
  std::vector<std::pair<const Child*, int>> exited;
  for (Child& c : children) {
    int status = 0;
    if (c.running && waitpid(c.pid, &status, WNOHANG) == c.pid) {
      c.running = false;
      exited.emplace_back(&c, status);
    }
  }
  return exited;
}

std::string Describe(const Child& c, int status) {
  return c.task.name() + " (pid " + std::to_string(c.pid) + ") " + DescribeExit(status);
}

size_t Running(const std::vector<Child>& children) {
  size_t n = 0;
  for (const Child& c : children) n += c.running;
  return n;
}

// Sends SIGTERM to every running child, waits up to `grace` for them, then
// kills the rest; reaps all of them.
void StopAll(std::vector<Child>& children, std::chrono::seconds grace) {
  for (Child& c : children)
    if (c.running) kill(c.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  while (Running(children) > 0 && std::chrono::steady_clock::now() < deadline) {
    for (auto [c, status] : ReapExited(children)) Say(Describe(*c, status));
    if (Running(children) == 0) break;
    struct timespec step = {0, 100 * 1000 * 1000};
    sigtimedwait(&chld, nullptr, &step);
  }
  for (Child& c : children) {
    if (!c.running) continue;
    Say(c.task.name() + " (pid " + std::to_string(c.pid) + ") did not stop in time; killing it");
    kill(c.pid, SIGKILL);
    waitpid(c.pid, nullptr, 0);
    c.running = false;
  }
  Say("all tasks stopped");
}

// If a task exited on its own, reports it and stops the others.
bool StoppedOnItsOwn(std::vector<Child>& children) {
  auto exited = ReapExited(children);
  if (exited.empty()) return false;
  for (auto [c, status] : exited) Say(Describe(*c, status) + "; stopping the others");
  StopAll(children, std::chrono::seconds(10));
  return true;
}

// Waits for one of `signals` for up to `timeout`; returns it, or 0.
int WaitSignal(const sigset_t& signals, std::chrono::milliseconds timeout) {
  struct timespec ts = {static_cast<time_t>(timeout.count() / 1000), static_cast<long>(timeout.count() % 1000) * 1000000};
  int s = sigtimedwait(&signals, nullptr, &ts);
  return s < 0 ? 0 : s;
}

int RunLaunch(const LaunchOptions& o) {
  auto spec = LoadClusterSpec(o.cluster);
  if (!spec.ok()) {
    std::cerr << "flowps launch: " << spec.status().message() << "\n";
    return 2;
  }
  std::vector<Child> children;
  for (const TaskSpec& t : spec->AllTasks())
    if (IsLocalHost(t.host)) children.push_back(Child{t});
  if (children.empty()) {
    std::cerr << "flowps launch: no task of " << o.cluster << " is on this machine\n";
    return 2;
  }
  const std::string bin_dir = o.bin_dir.empty() ? DefaultBinDir() : o.bin_dir;
  for (const char* program : {"flowps-ps", "flowps-worker"}) {
    std::string path = bin_dir + "/" + program;
    if (access(path.c_str(), X_OK) != 0) {
      std::cerr << "flowps launch: cannot run " << path << " (set --bin-dir or FLOWPS_BIN_DIR)\n";
      return 2;
    }
  }

  // Signals are taken synchronously (sigtimedwait); children get the original mask.
  sigset_t signals, original;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGCHLD);
  sigprocmask(SIG_BLOCK, &signals, &original);

  for (Child& c : children) {
    auto pid = Spawn(bin_dir + "/flowps-" + c.task.job, o, c.task, original);
    if (!pid.ok()) {
      Say(pid.status().message());
      StopAll(children, std::chrono::seconds(10));
      return 1;
    }
    c.pid = *pid;
    c.running = true;
    Say("started " + c.task.name() + " on " + c.task.address() + " (pid " + std::to_string(c.pid) + ")");
  }

  std::vector<TaskSpec> tasks;
  for (const Child& c : children) tasks.push_back(c.task);
  auto io = kj::setupAsyncIo();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.wait_s);
  std::vector<TaskReport> reports;
  while (true) {
    if (StoppedOnItsOwn(children)) return 1;
    reports = CheckHealth(io, *spec, tasks, std::chrono::milliseconds(1000));
    if (AllHealthy(reports)) break;
    if (std::chrono::steady_clock::now() > deadline) {
      std::cout << FormatHealthTable(reports);
      Say("not every task became healthy within " + std::to_string(o.wait_s) + " s; stopping every task");
      StopAll(children, std::chrono::seconds(10));
      return 1;
    }
    // A short pause that a signal ends early; SIGCHLD is handled at the top.
    int s = WaitSignal(signals, std::chrono::milliseconds(200));
    if (s == SIGINT || s == SIGTERM) {
      Say(std::string("got ") + strsignal(s) + " while starting; stopping every task");
      StopAll(children, std::chrono::seconds(10));
      return 0;
    }
  }

  std::cout << FormatHealthTable(reports);
  Say("all " + std::to_string(children.size()) + " local tasks are healthy; Ctrl-C or SIGTERM stops them");

  while (true) {
    int s = WaitSignal(signals, std::chrono::milliseconds(60000));
    if (s == SIGINT || s == SIGTERM) {
      Say(std::string("got ") + strsignal(s) + "; stopping every task");
      StopAll(children, std::chrono::seconds(10));
      return 0;
    }
    if (StoppedOnItsOwn(children)) return 1;
  }
}

}  // namespace

void AddLaunchCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<LaunchOptions>();
  CLI::App* cmd = app.add_subcommand("launch", "start every local task of a cluster and watch over them");
  cmd->add_option("cluster", o->cluster, "cluster spec (YAML)")->required();
  cmd->add_option("--log-level", o->log_level, "log level of the tasks")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  cmd->add_option("--wait-s", o->wait_s, "seconds for every task to become healthy")->check(CLI::PositiveNumber);
  cmd->add_option("--bin-dir", o->bin_dir, "folder of flowps-ps and flowps-worker (default: FLOWPS_BIN_DIR, else next to flowps)");
  cmd->callback([o, exit_code]() { *exit_code = RunLaunch(*o); });
}

}  // namespace flowps

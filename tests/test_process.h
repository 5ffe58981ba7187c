// Helpers for tests that run flowps programs as processes on loopback.
// Every process started is killed and reaped by PID when its owner goes.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "net/loopback_port.h"

namespace flowps::test {

// A loopback port that was free a moment ago (bound to 0, then released).
inline std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A child process with its output in a file (appended to, so that a restarted
// program keeps one log); killed and reaped by PID if it is still running.
// `max_open_files` > 0 sets the child's RLIMIT_NOFILE (soft and hard).
struct Process {
  Process(std::vector<std::string> args, const std::string& output, rlim_t max_open_files = 0) {
    pid = ::fork();
    if (pid == 0) {
      if (max_open_files > 0) {
        struct rlimit limit = {max_open_files, max_open_files};
        ::setrlimit(RLIMIT_NOFILE, &limit);
      }
      int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~Process() { Kill(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // SIGKILL and reap (kill -9).
  void Kill() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      pid = -1;
    }
  }
  // Waits up to `limit` for the exit; returns the wait status, or -1.
  int Wait(std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  pid_t pid = -1;
};

}  // namespace flowps::test

// ProcessCounters: what the whole process (every thread) spent between two
// points, read from getrusage(RUSAGE_SELF) -- CPU time and context switches.
// On a shared machine wall-clock rates move with the load; these counts say
// what the code itself costs (CPU-us per call, thread wake-ups per call), so
// a benchmark reports them beside its rates.
//
// Voluntary switches are a thread blocking (on epoll, a futex, a read): in a
// call between two threads of the process each hand-off is one voluntary
// switch of the thread that waits, so they count wake-ups. Read and write
// calls come from /proc/self/io (syscr, syscw; 0 where it cannot be read):
// read, readv, write, writev -- what Cap'n Proto's streams use, and an
// eventfd wake-up of a KJ loop is a write too -- but not send/recv on a
// socket, which the kernel does not count there.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <fstream>
#include <string>

namespace flowps {

struct ProcessCounters {
  double cpu_us = 0;             // user + system CPU of every thread, microseconds
  int64_t voluntary_switches = 0;
  int64_t involuntary_switches = 0;
  int64_t read_calls = 0;   // syscr
  int64_t write_calls = 0;  // syscw

  int64_t switches() const { return voluntary_switches + involuntary_switches; }
  int64_t io_calls() const { return read_calls + write_calls; }

  static ProcessCounters Now() {
    struct rusage u = {};
    getrusage(RUSAGE_SELF, &u);
    ProcessCounters c;
    c.cpu_us = static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 +
               static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
    c.voluntary_switches = u.ru_nvcsw;
    c.involuntary_switches = u.ru_nivcsw;
    c.AddIoCalls("/proc/self/io");
    return c;
  }
  // Adds the read and write calls of the /proc/<pid>/io file at `path`.
  void AddIoCalls(const std::string& path) {
    std::ifstream io(path);
    std::string key;
    int64_t value = 0;
    while (io >> key >> value) {
      if (key == "syscr:") read_calls += value;
      if (key == "syscw:") write_calls += value;
    }
  }
  ProcessCounters operator-(const ProcessCounters& before) const {
    return ProcessCounters{cpu_us - before.cpu_us, voluntary_switches - before.voluntary_switches,
                           involuntary_switches - before.involuntary_switches, read_calls - before.read_calls,
                           write_calls - before.write_calls};
  }
};

}  // namespace flowps

// ProcessCounters: what the whole process (every thread) spent between two
// points, read from getrusage(RUSAGE_SELF) -- CPU time and context switches.
// On a shared machine wall-clock rates move with the load; these counts say
// what the code itself costs (CPU-us per call, thread wake-ups per call), so
// a benchmark reports them beside its rates.
//
// Voluntary switches are a thread blocking (on epoll, a futex, a read): in a
// call between two threads of the process each hand-off is one voluntary
// switch of the thread that waits, so they count wake-ups.
#pragma once

#include <sys/resource.h>

#include <cstdint>

namespace flowps {

struct ProcessCounters {
  double cpu_us = 0;             // user + system CPU of every thread, microseconds
  int64_t voluntary_switches = 0;
  int64_t involuntary_switches = 0;

  static ProcessCounters Now() {
    struct rusage u = {};
    getrusage(RUSAGE_SELF, &u);
    ProcessCounters c;
    c.cpu_us = static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 +
               static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
    c.voluntary_switches = u.ru_nvcsw;
    c.involuntary_switches = u.ru_nivcsw;
    return c;
  }
  ProcessCounters operator-(const ProcessCounters& before) const {
    return ProcessCounters{cpu_us - before.cpu_us, voluntary_switches - before.voluntary_switches,
                           involuntary_switches - before.involuntary_switches};
  }
};

}  // namespace flowps

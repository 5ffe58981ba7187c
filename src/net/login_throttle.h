// What a daemon keeps about wrong logins: per peer address, how many failed
// lately (to delay the next answer), and a log that writes only a few lines
// per window however many strangers knock.
//
// Threads: both belong to one thread (the server's loop); not thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>

namespace flowps {

using SteadyTime = std::chrono::steady_clock::time_point;

class LoginThrottle {
 public:
  // The delay before answering the n-th wrong login is
  // min(first_delay * 2^(n-1), max_delay); a peer's count is forgotten after
  // `forget_after` without a failure.
  LoginThrottle(std::chrono::milliseconds first_delay, std::chrono::milliseconds max_delay,
                std::chrono::seconds forget_after = std::chrono::seconds(60), size_t max_peers = 4096);

  // Records a wrong login from `peer` (an address without the port) and
  // returns how many that peer has had lately, this one included.
  int RecordFailure(const std::string& peer, SteadyTime now);
  // The delay for the n-th failure (n >= 1).
  std::chrono::milliseconds DelayFor(int failures) const;

 private:
  struct Peer {
    int failures = 0;
    SteadyTime last;
  };
  std::chrono::milliseconds first_delay_, max_delay_;
  std::chrono::seconds forget_after_;
  size_t max_peers_;
  std::map<std::string, Peer> peers_;
};

// Allows `lines_per_window` lines per window; the first line allowed after
// some were held back says how many.
class RateLimitedLog {
 public:
  explicit RateLimitedLog(int lines_per_window = 5, std::chrono::seconds window = std::chrono::seconds(10))
      : lines_per_window_(lines_per_window), window_(window) {}

  // Whether to write a line now; when true, *suppressed is the number of
  // lines held back since the last one written (to mention in it).
  bool Allow(SteadyTime now, size_t* suppressed);

 private:
  int lines_per_window_;
  std::chrono::seconds window_;
  SteadyTime window_start_{};
  int written_ = 0;
  size_t suppressed_ = 0;
};

}  // namespace flowps

#include "net/login_throttle.h"

#include <algorithm>

namespace flowps {

LoginThrottle::LoginThrottle(std::chrono::milliseconds first_delay, std::chrono::milliseconds max_delay,
                             std::chrono::seconds forget_after, size_t max_peers)
    : first_delay_(first_delay), max_delay_(max_delay), forget_after_(forget_after), max_peers_(max_peers) {}

int LoginThrottle::RecordFailure(const std::string& peer, SteadyTime now) {
  if (peers_.size() >= max_peers_ && peers_.find(peer) == peers_.end()) {
    std::erase_if(peers_, [&](const auto& p) { return now - p.second.last > forget_after_; });
    if (peers_.size() >= max_peers_) peers_.clear();  // a flood of addresses: start over
  }
  Peer& p = peers_[peer];
  if (p.failures > 0 && now - p.last > forget_after_) p.failures = 0;
  p.failures = std::min(p.failures + 1, 1 << 20);
  p.last = now;
  return p.failures;
}

std::chrono::milliseconds LoginThrottle::DelayFor(int failures) const {
  const int doublings = std::clamp(failures - 1, 0, 30);
  const auto delay = first_delay_.count() * (int64_t{1} << doublings);
  return std::chrono::milliseconds(std::min<int64_t>(delay, max_delay_.count()));
}

bool RateLimitedLog::Allow(SteadyTime now, size_t* suppressed) {
  if (now - window_start_ >= window_) {
    window_start_ = now;
    written_ = 0;
  }
  if (written_ >= lines_per_window_) {
    ++suppressed_;
    return false;
  }
  ++written_;
  *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

}  // namespace flowps

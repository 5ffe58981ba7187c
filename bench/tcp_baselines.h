// Raw loopback TCP baselines that the network benchmarks print beside their
// figures, measured in the same run (a cross-core wake-up costs very different
// amounts on different machines, so only same-run ratios mean something).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/status.h"

namespace flowps {

// Round trips of 8 bytes per second over one loopback TCP connection, one at
// a time (an echo thread answers), after 500 warm-up round trips.
StatusOr<double> TcpPingPongPerSecond(int64_t calls);

// Loopback TCP bandwidth (MB/s) for transfers of `bytes`: a thread sends,
// this thread receives into a buffer; over `reps` transfers after one warm-up.
StatusOr<double> TcpLoopbackMBps(size_t bytes, int reps);

}  // namespace flowps

// rpc-latency: tiny authenticated calls per second over loopback, beside a raw
// TCP ping-pong measured in the same run.
//
// Options (--opt key=value): calls (default 20000): round trips per
// measurement; window (default 16): calls in flight for the pipelined figure.
// Emits rpc_health_calls_per_s (one Session.health call at a time) and
// rpc_pipelined_calls_per_s (`window` in flight), each with the baseline
// tcp_pingpong_calls_per_s (8-byte messages, one at a time, TCP_NODELAY).
#pragma once

#include "bench/benchmark.h"

namespace flowps {

Benchmark MakeRpcLatencyBenchmark();

}  // namespace flowps

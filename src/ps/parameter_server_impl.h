// ParameterServerImpl: the "ps" service of a flowps-ps task, the RPC face of
// one ParameterShard (schema: net/schema/ps.capnp).
//
// Threads: its calls run on the RpcServer's KJ loop. A push, pull or
// pushPull that moves fewer than ParameterServerOptions::inline_below_bytes
// (gradients plus values read back) runs entirely on the loop: a hand-off to
// the ThreadPool and back costs two cross-thread wake-ups, more than the work
// of a small message. Larger ones, initialisation and checkpoint I/O run on
// the pool (RunOnPool or a cross-thread fulfiller), and the loop only decodes
// and encodes. Calls are not cancellable (Cap'n Proto's default), which keeps
// a request's tensors alive while the pool reads them.
//
// Wire: pushed tensors are read in place from the request (zero copy) and
// copied only where the shard keeps them past the call (a sync step's sums,
// the parts of a multi-part push, a held async push). Pull responses are
// copied into the response message on the pool: Cap'n Proto writes a response
// after the call returns, so it may not reference variable buffers.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include <capnp/capability.h>

namespace spdlog {
class logger;
}

namespace flowps {

struct ServiceEnv;
class TraceRecorder;

namespace ps {

class ShardMonitor;

struct ParameterServerOptions {
  // Messages that move fewer bytes than this are handled on the RPC loop (see
  // above; the threshold is measured in docs/PERFORMANCE.md).
  size_t inline_below_bytes = size_t{256} << 10;
  // Tests only: every checkpoint shard file waits this long between its fsync
  // and its rename (flowps-ps reads FLOWPS_TEST_PAUSE_BEFORE_RENAME_MS).
  int test_pause_before_rename_ms = 0;
  // Once no push, pull or create has run for this long, the free heap pages
  // are given back to the system (ReleaseFreeMemory, on the pool): an idle ps
  // holds about its state, not the peak of its busiest step. 0: never.
  std::chrono::milliseconds idle_release_after{500};
  // Where the service counts what it does (ps/shard_monitor.h); shared with
  // the task's /metrics. Null: a monitor of its own, read by the stats call only.
  std::shared_ptr<ShardMonitor> monitor;
  // Where a traced pushPull (one with a traceParent) records its spans: the
  // call ("pushPull", on the track "pushPull worker:w") and under it the
  // offer to the update rule (named by its outcome: "aggregate" when counted
  // towards a sync step, "apply" when applied -- the sync push that completed
  // the step applies it --, "stale", "duplicate"), the "wait" for the step's
  // release (sync) and the "read" of the values. Null: nothing is recorded.
  // REQUIRES: outlives the service.
  TraceRecorder* trace = nullptr;
};

// The capability to register as the "ps" service of ps task `shard` of
// `num_shards`. The shard is made (and restored from its newest complete
// checkpoint) by the first `configure` call, which the chief sends; a new
// job's configure (another job id or config) makes a new one in its place.
capnp::Capability::Client NewParameterServer(ServiceEnv& env, int shard, int num_shards,
                                             std::shared_ptr<spdlog::logger> log,
                                             ParameterServerOptions options = {});

}  // namespace ps
}  // namespace flowps

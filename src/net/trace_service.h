// The "trace" service (net/schema/trace.capnp) that every task registers over
// its TraceRecorder, and the collector's side of it: a task's spans with the
// offset of its clock from the collector's.
//
// Threads: the service runs on its server's loop; CollectTaskTrace on the
// loop of the RpcClient it is given.
#pragma once

#include <capnp/capability.h>
#include <kj/async.h>

#include "core/chrome_trace.h"
#include "core/trace.h"

namespace flowps {

class RpcClient;
struct ClusterSpec;
struct TaskSpec;

// The number of `task` among the job's tasks, for its span ids (SpanIdBase)
// and its process in the job's trace: ps k -> k, worker i -> (number of ps) + i.
int TraceSlot(const ClusterSpec& spec, const TaskSpec& task);

// REQUIRES: recorder outlives the capability.
capnp::Capability::Client NewTraceService(TraceRecorder* recorder);

struct CollectedTrace {
  ClockOffset clock;  // the task's clock - this process's
  TaskTrace trace;
};

// Pings the task's trace service `pings` times (the clock offset from the
// least round trip, EstimateClockOffset), then takes its spans. REQUIRES: pings >= 1.
kj::Promise<CollectedTrace> CollectTaskTrace(RpcClient& client, int pings = 5);

}  // namespace flowps

// The job's trace as one Chrome trace-event JSON file (chrome://tracing,
// https://ui.perfetto.dev): every task's spans on one time line, each task's
// steady clock shifted by its estimated offset from the collector's clock.
//
// Format: {"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}
// with, per task, "M" events naming the process (pid = the task's slot) and
// its threads (tid = a track: a device, "step", "rpc", "ps"), and one "X"
// (complete) event per span: ts and dur in microseconds from the earliest
// span, args {id, parent, step, detail}. Parent ids may cross tasks (a ps
// span's parent is the worker's RPC span). otherData.tasks holds, per task,
// its pid, clock offset and error bound, its spans, those dropped over the
// recorder's bound and those still in flight when the file was written
// (begun, not yet recorded: missing from it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/trace.h"

namespace flowps {

// One ping: the collector's clock at send and at receipt, the remote's clock
// in between (all TraceRecorder::NowNs() of their processes).
struct ClockSample {
  int64_t send_ns = 0;
  int64_t remote_ns = 0;
  int64_t recv_ns = 0;
};

struct ClockOffset {
  int64_t offset_ns = 0;  // remote clock - collector clock
  int64_t error_ns = 0;   // the bound on |error|: half the round trip used
};

// NTP-style, from the ping with the least round trip: offset = remote -
// (send + recv) / 2, error <= round trip / 2. REQUIRES: samples not empty.
ClockOffset EstimateClockOffset(const std::vector<ClockSample>& samples);

struct TraceSource {
  std::string process_name;  // "ps:0", "worker:1 (chief)"
  int pid = 0;               // the task's slot (unique in the job)
  ClockOffset clock;         // of this task relative to the collector
  TaskTrace trace;
};

// The whole JSON document.
std::string ChromeTraceJson(const std::vector<TraceSource>& sources);

}  // namespace flowps

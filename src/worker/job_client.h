// The command line's side of the "worker" service (net/schema/worker.capnp):
// submitting a job to the chief and reading every worker's view of its job,
// for `flowps submit` and `flowps status`. Runs on the calling thread's KJ
// event loop.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <kj/async-io.h>

#include "core/cluster_spec.h"
#include "core/status.h"
#include "worker/worker_metrics.h"
#include "worker/worker_runtime.h"

namespace flowps {

struct WorkerReport {
  TaskSpec task;
  Status status;        // OK when the worker answered
  WorkerJobStatus job;  // valid when status is OK
  WorkerMetricsSnapshot metrics;  // valid when status is OK: the task's counters
};

// Hands the job text (read from `path`) to the chief, with the bytes of its
// graph file for a graph job (ReadModelGraphFile; empty for a built-in). The
// chief's refusal comes back as FailedPrecondition with its message (bad
// spec: file, line, key; bad graph: the node and what is wrong).
Status SubmitJob(kj::AsyncIoContext& io, const ClusterSpec& spec, const std::string& yaml, const std::string& path,
                 std::chrono::milliseconds timeout, const std::string& graph_def = "", int64_t trace_steps = 0);

// Stops the running job as `flowps stop` does: the chief first (it stops the
// workers it started and writes a final checkpoint when the job has a
// checkpoint dir; the call returns once it has), then every other worker,
// in case one was not reached. The chief's failure or silence comes back as
// its Status (the others' are ignored: an idle or absent worker holds no job).
Status StopJob(kj::AsyncIoContext& io, const ClusterSpec& spec, std::chrono::milliseconds timeout);

// Every worker's status, asked in parallel, each bounded by `timeout`.
std::vector<WorkerReport> QueryWorkers(kj::AsyncIoContext& io, const ClusterSpec& spec,
                                       std::chrono::milliseconds timeout);

// The job as the chief sees it, then one line per worker.
std::string FormatJobTable(const ClusterSpec& spec, const std::vector<WorkerReport>& reports);
// The job's last test result as a person reads it: "test accuracy 85.31%, loss 0.4172",
// "test auc 0.7710, log_loss 0.4400, loss 0.4400" (a model without accuracy), "test accuracy -" before any.
std::string FormatTestResult(const WorkerJobStatus& job);
// {"job":..,"state":..,"global_step":..,"total_steps":..,"loss":..,"test_accuracy":..,"test_metrics":{..},
//  "examples_per_sec":..,"workers":[{"task":..,"state":..,"steps":..,"loss":..,"examples_per_sec":..,
//  "stale_dropped":..}]}
std::string FormatJobJson(const ClusterSpec& spec, const std::vector<WorkerReport>& reports);

}  // namespace flowps

// WorkerRuntime: one flowps-worker task's side of a distributed job, and the
// "worker" service (net/schema/worker.capnp) that controls it.
//
// Every worker, once started on a job, trains on its own shard of the
// training set (worker i of n takes the i-th slice): it pulls every variable
// from all ps shards in parallel (PsClient), computes the gradients of a batch
// split into one tower per device of its task in the cluster spec
// (LocalDevices; each tower runs on its device, and the towers' gradients are
// averaged on the first device before ONE push), pushes them with (worker,
// step), and in sync mode waits for the ps to complete the step. It logs one
// line per window of log_every_steps of its own steps: global step, loss,
// examples/s, and its pushes dropped as stale. It stops when the global step
// reaches the job's end (steps, or epochs of the whole training set).
//
// The chief (the cluster spec's chief worker) also takes submissions: it
// checks the job and its graph (a graph job's GraphDef bytes come with the
// submission and go on to every worker, so no worker reads the graph file),
// builds the model, places the variables on the ps shards
// (PartitionPlan), configures the shards and creates the variables with their
// initializers, or resumes from the shards' newest checkpoint; then it starts
// every other worker and trains as one of them. Every two seconds it asks the
// others for their status and starts again any that is idle (a restarted
// flowps-worker rejoins). It evaluates the test accuracy every
// eval_every_steps global steps and at the end (with every metric the
// model's roles name, worker/model_metrics.h), checkpoints (every K steps / T
// seconds, and at the end), and at the end writes <run_dir>/metrics.jsonl and
// <run_dir>/curves.png (gnuplot).
//
// The parts: TrainingLoop (the steps, worker/training_loop.h) over a
// PsParameterSource, the model's towers (ModelTowers) and the batches
// (BatchSource); the chief's duties ShardSetup, PeerSupervisor,
// CheckpointTrigger and Evaluator; JobReport for the status, the progress
// lines, metrics.jsonl and the plot. This file holds the job's state machine
// (worker/job_status.h) and wires the parts.
//
// Threads: a job runs on its own thread, which owns a KJ event loop for its
// PsClient and peer clients and waits there; the gradient computation runs on
// the step driver thread (ModelTowers), whose kernels run on the ThreadPool;
// with mode.prefetch the batches are read on a thread of their own. The RPC
// loop only decodes calls, reads snapshots and signals a stop: it never waits
// for a job thread. Every public method is thread-safe.
#pragma once

#include <memory>
#include <string>

#include <capnp/capability.h>

#include "core/cluster_spec.h"
#include "core/status.h"
#include "worker/job_status.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace flowps {

class ThreadPool;
class TraceRecorder;
class WorkerMetrics;
struct ServiceEnv;

class WorkerRuntime {
 public:
  // `task_index` is this worker's index in spec.workers. REQUIRES: pool
  // outlives the runtime. Every job's steps and evaluations are counted into
  // `metrics` (null: a WorkerMetrics of its own).
  // `trace`: the task's recorder, where a job submitted with traceSteps > 0
  // records (null: such a job traces nothing); REQUIRES: it outlives the runtime.
  WorkerRuntime(ClusterSpec spec, int task_index, ThreadPool* pool, std::shared_ptr<spdlog::logger> log,
                std::shared_ptr<WorkerMetrics> metrics = nullptr, TraceRecorder* trace = nullptr);
  // Stops the job, if any, and joins its thread.
  ~WorkerRuntime();
  WorkerRuntime(const WorkerRuntime&) = delete;
  WorkerRuntime& operator=(const WorkerRuntime&) = delete;

  // A submission (chief only): checks the job text and starts it. Refused
  // (FailedPrecondition) on a worker that is not the chief or while a job
  // runs; InvalidArgument naming file, line and key for a bad spec. A refusal
  // leaves a running job as it was.
  // `graph_def`: the bytes of the job's model.graph_file (empty: a built-in
  // model, or the chief reads the file); a graph that is not a complete model
  // is refused naming the node. The chief ships the bytes to every worker.
  // `trace_steps` > 0 (`flowps submit --trace N`): every worker traces that
  // many of its steps after its first (TrainingLoopOptions), the ps shards
  // their part of those steps, and the chief writes the job's trace
  // (worker/job_trace.h) to <run_dir>/trace.json (without run_dir:
  // trace-<job>.json in its working directory) once the traced steps are
  // past and again at the end; the status then names it (trace_path).
  Status Submit(const std::string& yaml, const std::string& path, const std::string& graph_def = "",
                int64_t trace_steps = 0);
  // Joins run `job_id` of the job the chief runs (a running job here is replaced).
  Status Join(const std::string& yaml, const std::string& path, const std::string& job_id,
              const std::string& graph_def = "", int64_t trace_steps = 0);
  // Stops this worker's job and waits for its thread (bounded by the ps call
  // deadline); no final checkpoint (the daemon is going away). Blocks: not for an event loop or a compute pool thread.
  void Stop();
  // Asks the job to stop and resolves once its thread has ended (at once when
  // none runs); the chief stops the workers it started, then writes a final
  // checkpoint when the job has a checkpoint dir (a user's stop: `flowps stop`). Call on a thread with a KJ event loop (the RPC loop); it
  // blocks nothing, so a worker whose pool has one thread still stops.
  kj::Promise<void> StopAsync();
  WorkerJobStatus Snapshot() const;
  const WorkerMetrics& metrics() const;
  bool is_chief() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// The capability to register as the "worker" service.
capnp::Capability::Client NewWorkerControl(ServiceEnv& env, std::shared_ptr<WorkerRuntime> runtime);

}  // namespace flowps

// WorkerJobStatus: what `flowps status` and `flowps submit --wait` show of one
// worker's job, and the job's state machine:
//
//   idle --submit/startJob--> starting --first pull--> running --end step--> done
//                               |                        |--error--> failed
//                               '------------------------'--stop---> stopped
//
// The wire (net/schema/worker.capnp) carries the state as its name.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace flowps {

enum class JobState { kIdle, kStarting, kRunning, kDone, kFailed, kStopped };

// "idle", "starting", "running", "done", "failed", "stopped".
const char* JobStateName(JobState s);
// The state a name stands for; kIdle for a name it does not know (a newer peer's).
JobState ParseJobState(const std::string& name);
// Starting or running: the job holds the worker.
inline bool IsActive(JobState s) { return s == JobState::kStarting || s == JobState::kRunning; }

struct WorkerJobStatus {
  JobState state = JobState::kIdle;
  std::string job, job_id;
  bool chief = false;
  int64_t global_step = 0, total_steps = 0, local_steps = 0, examples = 0;
  double loss = 0, examples_per_sec = 0, job_examples_per_sec = 0;
  int64_t stale_dropped = 0;
  double test_accuracy = -1;
  std::map<std::string, double> test_metrics;  // chief: every metric of the last evaluation (empty before it)
  double elapsed_seconds = 0;
  std::string error, metrics_path, plot_path;
  std::string trace_path;  // chief, with --trace: the job's Chrome trace once written
  int64_t resumed_from = -1;
  int64_t checkpoint_failures = 0;  // chief: failed checkpoints (training went on)
  int64_t last_checkpoint = -1;     // chief: the newest checkpoint this run completed
  std::string sample;               // chief, when done with a text model: text it generated (printable ASCII)
};

}  // namespace flowps

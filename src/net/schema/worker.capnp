@0xe4b1c2d3a5f60718;
# The worker control service, one per flowps-worker task, reached as the
# Session service "worker". `flowps submit` calls startJob on the chief; the
# chief calls it on every other worker (again on one that restarted).

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("flowps::wire");

using import "ps.capnp".Histogram;

struct WorkerStatus {
  state @0 :Text;            # idle | starting | running | done | failed | stopped
  job @1 :Text;              # the job's name ("" when idle)
  chief @2 :Bool;            # this worker is the job's chief
  globalStep @3 :Int64;      # the ps step this worker saw last
  totalSteps @4 :Int64;      # where the job ends
  localSteps @5 :Int64;      # pushes by this worker
  loss @6 :Float64;          # this worker's mean loss over its last window
  examplesPerSec @7 :Float64;   # this worker's rate over its last window
  jobExamplesPerSec @8 :Float64;  # chief: the whole job's rate (from the global step)
  staleDropped @9 :Int64;    # this worker's pushes the ps dropped as stale
  testAccuracy @10 :Float64; # chief: the last evaluation; -1 before the first
  elapsedSeconds @11 :Float64;
  error @12 :Text;           # failed: why
  metricsPath @13 :Text;     # chief, when done: <run_dir>/metrics.jsonl
  plotPath @14 :Text;        # chief, when done: <run_dir>/curves.png ("" without gnuplot)
  resumedFrom @15 :Int64;    # chief: the checkpoint the job resumed from (-1: none)
  examples @16 :Int64;       # examples this worker trained on
  jobId @17 :Text;           # the chief's id of this run of the job
  checkpointFailures @18 :Int64;  # chief: checkpoints that failed while training (each retried at the next interval)
  lastCheckpoint @19 :Int64;      # chief: the newest checkpoint this run completed (-1: none yet)
  testMetrics @20 :List(MetricValue);  # chief: every metric of the last evaluation (accuracy, auc, loss, ...)
  tracePath @21 :Text;       # chief, with --trace: the job's Chrome trace once written ("" before)
}

struct MetricValue {
  name @0 :Text;
  value @1 :Float64;
}

# A worker task's counters since it started (worker/worker_metrics.h).
struct WorkerMetrics {
  steps @0 :Int64;
  examples @1 :Int64;
  stalePushes @2 :Int64;
  pullSeconds @3 :Histogram;
  computeSeconds @4 :Histogram;
  pushSeconds @5 :Histogram;
  waitSeconds @6 :Histogram;
  staleness @7 :Histogram;
  loss @8 :Float64;
  evaluations @9 :Int64;
  testAccuracy @10 :Float64;   # -1 before the first evaluation
  evaluatedStep @11 :Int64;
  residentBytes @12 :Int64;
}

interface WorkerControl {
  # Starts `jobYaml` (the text of the job file at `jobPath`, which names it in
  # errors and anchors its relative paths). fromChief = false is a submission:
  # only the chief takes it, and refuses it while a job runs or when the spec
  # is bad (the message names file, line and key). fromChief = true: the chief
  # starts this worker on the job it runs. graphDef: the bytes of the job's
  # model.graph_file (empty for a built-in model), so that no worker needs
  # the file; a submission without them has the chief read the file.
  # traceSteps: `flowps submit --trace N`, the steps every task of the job
  # records (0: none); the chief passes it on to every worker.
  startJob @0 (jobYaml :Text, jobPath :Text, fromChief :Bool, jobId :Text, graphDef :Data, traceSteps :UInt32) -> ();
  # Stops this worker's job (the chief also stops the workers it started);
  # returns once stopped.
  stop @1 () -> ();
  # status: this worker's job; metrics: its counters since the task started.
  status @2 () -> (status :WorkerStatus, metrics :WorkerMetrics);
}

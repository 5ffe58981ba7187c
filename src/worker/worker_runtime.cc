#include "worker/worker_runtime.h"

#include <spdlog/logger.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <optional>
#include <thread>

#include <kj/async-io.h>
#include <kj/debug.h>

#include "core/thread_pool.h"
#include "core/job_spec.h"
#include "core/partition_plan.h"
#include "device/device_discovery.h"
#include "net/ps_client.h"
#include "net/rpc_server.h"
#include "net/worker.capnp.h"
#include "worker/batch_sources.h"
#include "worker/checkpoint_trigger.h"
#include "worker/chief_watch.h"
#include "worker/data_input.h"
#include "worker/evaluator.h"
#include "worker/job_report.h"
#include "worker/job_trace.h"
#include "worker/local_devices.h"
#include "worker/local_model.h"
#include "worker/lstm_lm.h"
#include "worker/model_metrics.h"
#include "worker/model_towers.h"
#include "worker/models.h"
#include "worker/peer_supervisor.h"
#include "worker/ps_parameter_source.h"
#include "worker/replica_devices.h"
#include "worker/shard_setup.h"
#include "worker/table_source.h"
#include "worker/training_loop.h"
#include "worker/worker_metrics.h"

namespace flowps {
namespace {

// Variables above this size are split by rows across the ps shards.
constexpr int64_t kMinPartitionBytes = 256 * 1024;
// A chief rolls a job back to a common checkpoint at most this often per
// submission, waiting this long before each try (a restarted ps coming up).
constexpr int kMaxRollbacks = 5;
constexpr int kRollbackDelaySeconds = 3;

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

struct WorkerRuntime::State {
  ClusterSpec spec;
  int task = 0;
  ThreadPool* pool = nullptr;
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<WorkerMetrics> metrics;
  TraceRecorder* trace = nullptr;  // the task's; may be null

  std::mutex control_mu;  // serialises Submit, Join and Stop; never held while waiting for a job thread to end
  std::thread thread;     // guarded by control_mu

  mutable std::mutex mu;
  WorkerJobStatus status;                                 // guarded by mu
  bool stop_requested = false;                            // guarded by mu
  bool checkpoint_on_stop = false;                        // guarded by mu: a user's stop (StopAsync)
  std::string abort_reason;                               // guarded by mu; set: the job fails with it
  bool thread_running = false;                            // guarded by mu
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> cancel;  // guarded by mu; set while a job thread runs
  std::vector<kj::Own<kj::CrossThreadPromiseFulfiller<void>>> ended;  // guarded by mu: StopAsync callers

  bool chief() const { return task == spec.chief; }
  void Update(const std::function<void(WorkerJobStatus&)>& f) {
    std::lock_guard<std::mutex> lock(mu);
    f(status);
  }
  int64_t GlobalStep() const {
    std::lock_guard<std::mutex> lock(mu);
    return status.global_step;
  }
  bool StopRequested() const {
    std::lock_guard<std::mutex> lock(mu);
    return stop_requested;
  }
  void RequestStop() {
    std::lock_guard<std::mutex> lock(mu);
    stop_requested = true;
    if (cancel) cancel->fulfill();
  }
  // Ends the job as failed with `why` (e.g. its chief was lost); the first reason wins.
  void Abort(const std::string& why) {
    std::lock_guard<std::mutex> lock(mu);
    if (!abort_reason.empty()) return;
    abort_reason = why;
    if (cancel && !stop_requested) cancel->fulfill();
  }
  std::string AbortReason() const {
    std::lock_guard<std::mutex> lock(mu);
    return abort_reason;
  }
  // A stop or an abort: the loop ends between steps.
  bool Ending() const {
    std::lock_guard<std::mutex> lock(mu);
    return stop_requested || !abort_reason.empty();
  }
  // REQUIRES: control_mu held.
  void StopThread() {
    RequestStop();
    if (thread.joinable()) thread.join();
  }
  // Checks the job (and its graph), then (unless refused while one runs)
  // replaces the running one. REQUIRES: control_mu held.
  Status Start(std::string yaml, std::string path, std::string job_id, bool as_chief, bool refuse_while_running,
               std::string graph_def, int64_t trace_steps);
  // The job thread's body.
  void RunJob(const JobSpec& job, PeerJob peer_job, bool as_chief);
};

namespace {

// One run of a job on one worker: its thread's event loop, ps client, model
// and the chief's duties, wired to a TrainingLoop.
class JobRun {
 public:
  JobRun(WorkerRuntime::State& s, JobSpec job, PeerJob peer_job, bool chief, kj::AsyncIoContext& io,
         kj::ForkedPromise<void>& cancelled)
      : s_(s), job_(std::move(job)), peer_job_(std::move(peer_job)), chief_(chief), io_(io), cancelled_(cancelled) {}

  Status Run();
  // The job reached its first step (the chief's duties started).
  bool started() const { return started_; }
  // Chief, after a stop: stops the workers it started (bounded).
  void StopPeers() {
    if (peers_) peers_->StopPeers(io_.waitScope);
  }
  // Chief, after a user's stop and StopPeers: a final checkpoint of the
  // shards' newest step when the job has a checkpoint dir (bounded by the ps
  // call deadline; not cancelled by the stop).
  Status CheckpointAfterStop();

 private:
  template <typename T>
  T Await(kj::Promise<T> promise) {
    return promise
        .exclusiveJoin(cancelled_.addBranch().then([]() -> T {
          kj::throwFatalException(KJ_EXCEPTION(FAILED, "the job was stopped"));
        }))
        .wait(io_.waitScope);
  }
  Status Prepare();
  Status PrepareChief();
  Status BeforeStep(int64_t global_step);
  Status Evaluate(int64_t global_step);
  Status Finish(const TrainingLoopResult& totals);
  // Chief, tracing: collects the job's trace and rewrites its file; `last`
  // (the job's end) waits for the spans still in flight (bounded, JobTrace).
  Status WriteTrace(bool last);
  Status Sample();

  WorkerRuntime::State& s_;
  JobSpec job_;
  PeerJob peer_job_;
  bool chief_;
  kj::AsyncIoContext& io_;
  kj::ForkedPromise<void>& cancelled_;

  int64_t total_ = 0;
  double accuracy_ = -1;
  TestMetrics final_metrics_;  // the last evaluation's
  bool started_ = false;
  std::optional<data::DataSource> test_;  // chief: until the Evaluator takes it
  LocalDevices devices_;  // outlives model_, whose towers run on them
  // Outlives model_: the model holds the last pushPull answer, which aliases
  // a response of ps_'s connections (released on this thread, before ps_).
  std::unique_ptr<PsClient> ps_;
  std::unique_ptr<LocalModel> model_;
  std::unique_ptr<BatchSource> batches_;
  std::unique_ptr<PsParameterSource> params_;
  std::unique_ptr<JobReport> report_;
  // Chief's duties.
  std::unique_ptr<CheckpointTrigger> checkpoints_;
  std::unique_ptr<Evaluator> evaluator_;
  std::unique_ptr<PeerSupervisor> peers_;
  std::unique_ptr<ChiefWatch> chief_watch_;  // every other worker: its chief
  std::unique_ptr<JobTrace> trace_;      // chief, with --trace
  std::unique_ptr<ModelTowers> towers_;  // its driver finishes before the rest goes
  std::unique_ptr<TableSource> tables_;  // a model with embedding tables: its gradients (over towers_)
};

// Loads the data and builds the model, the ps client and the report.
Status JobRun::Prepare() {
  const TaskSpec& me = s_.spec.workers[static_cast<size_t>(s_.task)];
  auto probe = NewGpuProbe();
  FLOWPS_ASSIGN_OR_RETURN(devices_, OpenLocalDevices(me, *probe, *s_.log));
  FLOWPS_ASSIGN_OR_RETURN(model_, LocalModel::Create(job_.model, job_.optimizer, s_.pool, devices_.towers));
  // A model-parallel model needs its devices on every worker: the chief
  // refuses the job at its start, rather than have a worker fail again and again.
  if (chief_ && !job_.model.soft_placement)
    for (const TaskSpec& worker : s_.spec.workers)
      FLOWPS_RETURN_IF_ERROR(CheckReplicaDevices(*model_->model().graph, worker));
  for (const std::string& moved : model_->soft_placed()) s_.log->warn("soft placement: {}", moved);
  model_->set_carry_state(job_.data.contiguous && job_.model.carry_state);
  if (model_->num_states() > 0)
    s_.log->info("recurrent state ({} tensors): {}", model_->num_states(),
                 model_->carries_state() ? "carried from step to step (data.contiguous)" : "zero at every step");
  // Every worker reads its shard (worker task of all) through the pipeline,
  // whatever the format; the chief also reads the test data.
  const int workers = static_cast<int>(s_.spec.workers.size());
  FLOWPS_ASSIGN_OR_RETURN(JobData data, OpenJobData(job_, *model_->model().graph, chief_, s_.log.get()));
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<data::Pipeline> pipeline,
                          data::Pipeline::Start(data.train, TrainReading(job_.data, s_.task, workers)));
  batches_ = std::make_unique<PipelineBatchSource>(std::move(pipeline));
  test_ = std::move(data.test);
  const std::vector<TableInput>& tables = model_->model().tables;
  FLOWPS_RETURN_IF_ERROR(TableSource::CheckTables(job_, tables, data.train.schema()));
  std::vector<FeedSpec> feeds = EffectiveFeeds(job_.data, *model_->model().graph);
  for (FeedSpec& f : TableSource::Feeds(tables)) feeds.push_back(std::move(f));
  towers_ = std::make_unique<ModelTowers>(model_.get(), s_.pool, std::move(feeds));
  std::vector<VariableInfo> infos;
  std::vector<std::string> names;
  for (const ModelVariable& v : model_->model().variables) {
    infos.push_back(VariableInfo{v.name, DType::kFloat32, v.initial_value.shape()});
    names.push_back(v.name);
  }
  FLOWPS_ASSIGN_OR_RETURN(PartitionPlan plan,
                          PlanPartitions(infos, static_cast<int>(s_.spec.ps.size()), kMinPartitionBytes));
  PsClientOptions options;
  for (const TaskSpec& ps : s_.spec.ps) options.shard_addresses.push_back(ps.address());
  options.token = s_.spec.token;
  options.tls = s_.spec.tls;
  ps_ = std::make_unique<PsClient>(io_, options, std::move(plan));
  if (!tables.empty()) tables_ = std::make_unique<TableSource>(towers_.get(), ps_.get(), tables);
  const bool sync = job_.mode.mode == TrainingMode::kSync;
  params_ = std::make_unique<PsParameterSource>(ps_.get(), s_.task, std::move(names));

  JobReportOptions r;
  r.job = job_.name;
  r.worker = s_.task;
  r.chief = chief_;
  r.examples_per_step = job_.data.batch_size * (sync ? job_.mode.replicas_to_aggregate : 1);
  r.steps_per_epoch = (data.train_examples + r.examples_per_step - 1) / r.examples_per_step;
  total_ = job_.steps > 0 ? job_.steps
                          : static_cast<int64_t>(std::ceil(job_.epochs * static_cast<double>(r.steps_per_epoch)));
  r.total_steps = total_;
  r.log_every_steps = job_.log_every_steps;
  r.run_dir = job_.run_dir;
  FLOWPS_ASSIGN_OR_RETURN(report_, JobReport::Create(r, s_.log.get(), [this](const auto& f) { s_.Update(f); }, Now));

  std::string tower_names;
  for (const Device* d : devices_.towers.devices) tower_names += (tower_names.empty() ? "" : ", ") + d->name();
  const std::string towers = model_->model_parallel() ? "one model-parallel replica"
                                                      : std::to_string(model_->num_towers()) + " tower(s)";
  s_.log->info("job '{}' ({} mode{}): worker {} of {} trains on its shard of {} examples, {} on {}, until step {}",
               job_.name, TrainingModeName(job_.mode.mode), job_.mode.prefetch ? ", prefetch" : "", s_.task,
               workers, data.train_examples, towers, tower_names, total_);
  // The loop's timer still reads the time it last ran: bring it up to date, or
  // the first call's deadline counts the seconds spent loading and building.
  io_.waitScope.poll();
  return Status::OK();
}

// Chief: sets up the shards (or resumes), and its duties.
Status JobRun::PrepareChief() {
  ShardSetupOptions setup;
  setup.job_id = peer_job_.id;
  setup.deadline = std::chrono::milliseconds(static_cast<int64_t>(s_.spec.setup_timeout_s * 1000));
  ShardSetup shard_setup(ps_.get(), s_.log.get(), io_.provider->getTimer(), setup);
  FLOWPS_ASSIGN_OR_RETURN(const int64_t resumed, Await(shard_setup.Run(job_, model_->model())));
  s_.Update([&](WorkerJobStatus& st) { st.resumed_from = resumed; });
  checkpoints_ = std::make_unique<CheckpointTrigger>(ps_.get(), job_.checkpoint, s_.log.get());
  Evaluator::Pass pass = [this](const data::DataSource& test) {
    return tables_ ? tables_->Evaluate(test) : towers_->Evaluate(test);
  };
  if (test_) evaluator_ = std::make_unique<Evaluator>(std::move(*test_), job_.eval_every_steps, std::move(pass));
  peers_ = std::make_unique<PeerSupervisor>(io_, s_.spec, s_.task, peer_job_, s_.log.get());
  if (peer_job_.trace_steps > 0 && s_.trace != nullptr) {
    const std::string path = job_.run_dir.empty() ? "trace-" + job_.name + ".json" : job_.run_dir + "/trace.json";
    trace_ = std::make_unique<JobTrace>(io_, s_.spec, s_.task, s_.trace, path, s_.log.get());
    trace_->DropEarlierSpans();  // a trace is of this job only (the other workers start after this)
  }
  return Status::OK();
}

Status JobRun::WriteTrace(bool last) {
  if (!trace_) return Status::OK();
  FLOWPS_RETURN_IF_ERROR(trace_->Collect(last ? kTraceInFlightWait : std::chrono::milliseconds(0)));
  s_.log->info("job '{}': trace of {} steps of every task ({} spans) written to {} (open it in https://ui.perfetto.dev "
               "or chrome://tracing)",
               job_.name, peer_job_.trace_steps, trace_->spans(), trace_->path());
  s_.Update([&](WorkerJobStatus& st) { st.trace_path = trace_->path(); });
  return Status::OK();
}

Status JobRun::CheckpointAfterStop() {
  if (!checkpoints_ || job_.checkpoint.dir.empty()) return Status::OK();
  try {
    int64_t step = s_.GlobalStep();
    for (const ShardStatsReply& shard : ps_->Stats().wait(io_.waitScope)) step = std::max(step, shard.global_step);
    checkpoints_->Final(step).wait(io_.waitScope);
    s_.log->info("job '{}': final checkpoint {} written after the stop", job_.name, step);
    return Status::OK();
  } catch (const kj::Exception& e) {
    return Unavailable(std::string("the final checkpoint after the stop failed: ") + e.getDescription().cStr());
  }
}

Status JobRun::Evaluate(int64_t global_step) {
  FLOWPS_ASSIGN_OR_RETURN(TestMetrics metrics, evaluator_->Evaluate(global_step).wait(io_.waitScope));
  auto accuracy = metrics.find("accuracy");
  accuracy_ = accuracy == metrics.end() ? -1 : accuracy->second;
  final_metrics_ = metrics;
  s_.log->info("job '{}' test metrics at step {}: {}", job_.name, global_step, FormatMetrics(metrics));
  s_.Update([&](WorkerJobStatus& st) { st.test_metrics = std::move(metrics); });
  s_.metrics->RecordEvaluation(global_step, accuracy_);
  return report_->RecordEvaluation(global_step, accuracy_ < 0 ? std::nullopt : std::optional<double>(accuracy_));
}

// Between steps: the status, and the chief's duties.
Status JobRun::BeforeStep(int64_t global_step) {
  report_->AtGlobalStep(global_step);
  if (!chief_) return Status::OK();
  if (!started_) {
    checkpoints_->Start(global_step);
    if (evaluator_) evaluator_->Start(global_step);
    peers_->Start();
    started_ = true;
  }
  if (evaluator_ && evaluator_->Due(global_step)) FLOWPS_RETURN_IF_ERROR(Evaluate(global_step));
  Await(checkpoints_->AtStep(global_step));
  s_.Update([&](WorkerJobStatus& st) {
    st.checkpoint_failures = checkpoints_->failures();
    st.last_checkpoint = checkpoints_->last();
  });
  return Status::OK();
}

// Chief, a text model (lstm_lm): text generated by the model as last loaded
// (the final evaluation's parameters), in the log and the job's status.
Status JobRun::Sample() {
  SampleOptions options;
  options.length = 300;
  FLOWPS_ASSIGN_OR_RETURN(std::string text, SampleText(*model_, options));
  text = PrintableText(text);
  s_.log->info("job '{}': sample of the trained model:\n{}", job_.name, text);
  s_.Update([&](WorkerJobStatus& st) { st.sample = std::move(text); });
  return Status::OK();
}

Status JobRun::Finish(const TrainingLoopResult& totals) {
  report_->AtGlobalStep(totals.global_step);
  if (chief_) {
    Await(checkpoints_->Final(totals.global_step));
    s_.Update([&](WorkerJobStatus& st) { st.last_checkpoint = checkpoints_->last(); });
    if (evaluator_) FLOWPS_RETURN_IF_ERROR(Evaluate(totals.global_step));  // the model holds the final parameters
    FLOWPS_RETURN_IF_ERROR(WriteTrace(true));  // spans of a worker that lagged, or in flight at the first collection
    if (IsTextModel(*model_)) FLOWPS_RETURN_IF_ERROR(Sample());
  }
  return report_->Finish(totals.global_step, totals, final_metrics_);
}

Status JobRun::Run() {
  FLOWPS_RETURN_IF_ERROR(Prepare());
  if (chief_) {
    FLOWPS_RETURN_IF_ERROR(PrepareChief());
  } else {
    chief_watch_ = std::make_unique<ChiefWatch>(io_, s_.spec, peer_job_.id,
                                                [this](const std::string& why) { s_.Abort(why); }, s_.log.get());
    chief_watch_->Start();
  }
  TrainingHooks hooks;
  hooks.before_step = [this](int64_t global_step) { return BeforeStep(global_step); };
  TrainingLoopOptions options;
  if (peer_job_.trace_steps > 0) {
    options.trace = s_.trace;
    options.first_traced_step = 1;  // after a warm-up step
    options.traced_steps = peer_job_.trace_steps;
  }
  // The chief writes the trace once its own traced steps and one more are past (the others' too, in sync mode).
  const int64_t write_trace_after = options.first_traced_step + options.traced_steps + 1;
  hooks.after_step = [this, write_trace_after](const StepRecord& step, const TrainingLoopResult& totals) {
    s_.metrics->RecordStep(step);
    if (trace_ && totals.local_steps == write_trace_after) FLOWPS_RETURN_IF_ERROR(WriteTrace(false));
    return report_->RecordStep(step, totals);
  };
  options.end_step = total_;
  options.prefetch = job_.mode.prefetch;
  options.stop_requested = [this]() { return s_.Ending(); };
  options.cancelled = &cancelled_;
  GradientSource* gradients = tables_ ? static_cast<GradientSource*>(tables_.get()) : towers_.get();
  TrainingLoop loop(params_.get(), gradients, batches_.get(), std::move(hooks), std::move(options));
  auto totals = loop.Run(io_.waitScope);
  if (!totals.ok())
    return totals.status().WithContext("worker " + std::to_string(s_.task) + " at step " +
                                       std::to_string(s_.GlobalStep()));
  if (s_.Ending()) return Status::OK();
  return Finish(*totals);
}

}  // namespace

void WorkerRuntime::State::RunJob(const JobSpec& job, PeerJob peer_job, bool as_chief) {
  auto io = kj::setupAsyncIo();
  auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
  {
    std::lock_guard<std::mutex> lock(mu);
    cancel = kj::mv(paf.fulfiller);
    if (stop_requested) cancel->fulfill();
  }
  kj::ForkedPromise<void> cancelled = paf.promise.fork();
  Status result;
  bool stopped = false;
  Status stop_checkpoint;  // the final checkpoint after a user's stop
  bool trained = false;  // some run of this job reached its first step
  for (int rollbacks = 0;; ++rollbacks) {
    bool remote_failure = false;
    {
      JobRun run(*this, job, peer_job, as_chief, io, cancelled);
      try {
        result = run.Run();
        remote_failure = result.code() == Code::kUnavailable || result.code() == Code::kDeadlineExceeded;
      } catch (const kj::Exception& e) {
        result = Unavailable(e.getDescription().cStr());
        remote_failure = true;
      }
      trained = trained || run.started();
      stopped = StopRequested();
      if (stopped && as_chief) {
        run.StopPeers();
        bool checkpoint = false;
        {
          std::lock_guard<std::mutex> lock(mu);
          checkpoint = checkpoint_on_stop;
        }
        if (checkpoint) stop_checkpoint = run.CheckpointAfterStop();
      }
    }
    // The chief rolls the job back to the newest checkpoint every shard holds
    // when a call failed while it trained (a ps shard lost or restarted),
    // rather than let the shards run apart or end the job.
    const bool roll_back = as_chief && remote_failure && trained && !stopped && AbortReason().empty() &&
                           !job.checkpoint.dir.empty() && rollbacks < kMaxRollbacks;
    if (!roll_back) break;
    log->warn("job '{}': {}; rolling every ps shard back to the newest checkpoint they all hold (roll-back {} of at "
              "most {}, in {} s)",
              job.name, result.message(), rollbacks + 1, kMaxRollbacks, kRollbackDelaySeconds);
    Update([](WorkerJobStatus& st) { st.state = JobState::kStarting; });
    cancelled.addBranch()
        .exclusiveJoin(io.provider->getTimer().afterDelay(kRollbackDelaySeconds * kj::SECONDS))
        .wait(io.waitScope);
    if (StopRequested()) {
      stopped = true;
      break;
    }
  }
  std::lock_guard<std::mutex> lock(mu);
  cancel = nullptr;
  if (!abort_reason.empty() && !stopped) {
    status.state = JobState::kFailed;
    status.error = abort_reason;
    log->error("job '{}' failed: {}", job.name, abort_reason);
  } else if (stopped) {
    status.state = JobState::kStopped;
    if (!stop_checkpoint.ok()) status.error = stop_checkpoint.message();
    log->info("job '{}' stopped{}", job.name, stop_checkpoint.ok() ? "" : ": " + stop_checkpoint.message());
  } else if (!result.ok()) {
    status.state = JobState::kFailed;
    status.error = result.message();
    log->error("job '{}' failed: {}", job.name, result.message());
  } else {
    status.state = JobState::kDone;
  }
  thread_running = false;
  for (auto& f : ended) f->fulfill();
  ended.clear();
}

Status WorkerRuntime::State::Start(std::string yaml, std::string path, std::string job_id, bool as_chief,
                                   bool refuse_while_running, std::string graph_def, int64_t trace_steps) {
  auto parsed = ParseJobSpec(yaml, path, graph_def);
  if (!parsed.ok()) return parsed.status();
  JobSpec job = std::move(parsed).value();
  if (job.model.kind == ModelKind::kGraphFile) {
    // The graph comes with the job (or, from an older client, from the
    // chief's own file); the chief ships the same bytes to every worker.
    if (graph_def.empty()) {
      FLOWPS_ASSIGN_OR_RETURN(graph_def, ReadModelGraphFile(job.model.graph_file));
      job.model.graph_def = graph_def;
    } else {
      FLOWPS_RETURN_IF_ERROR(CheckModelGraph(graph_def, path + ": model.graph_file " + job.model.graph_file));
    }
  }
  const int workers = static_cast<int>(spec.workers.size());
  if (job.mode.total_workers != workers)
    return InvalidArgument(path + ": key 'mode.total_workers' is " + std::to_string(job.mode.total_workers) +
                           " but cluster " + spec.path + " has " + std::to_string(workers) + " workers");
  {
    std::lock_guard<std::mutex> lock(mu);
    if (refuse_while_running && IsActive(status.state))
      return FailedPrecondition("job '" + status.job + "' is running (step " + std::to_string(status.global_step) +
                                " of " + std::to_string(status.total_steps) + "); submit again when it has ended");
  }
  if (thread.joinable()) StopThread();
  {
    std::lock_guard<std::mutex> lock(mu);
    status = WorkerJobStatus{};
    status.state = JobState::kStarting;
    status.job = job.name;
    status.job_id = job_id;
    status.chief = as_chief;
    stop_requested = false;
    checkpoint_on_stop = false;
    abort_reason.clear();
    thread_running = true;
  }
  log->info("{} job '{}' from {}", as_chief ? "starting" : "joining", job.name, path);
  PeerJob peer_job{job.name, std::move(yaml), std::move(path), job_id, std::move(graph_def), trace_steps};
  thread = std::thread([this, job = std::move(job), peer_job = std::move(peer_job), as_chief]() mutable {
    NameThisThread("job");
    RunJob(job, std::move(peer_job), as_chief);
  });
  return Status::OK();
}

WorkerRuntime::WorkerRuntime(ClusterSpec spec, int task_index, ThreadPool* pool, std::shared_ptr<spdlog::logger> log,
                             std::shared_ptr<WorkerMetrics> metrics, TraceRecorder* trace)
    : state_(std::make_shared<State>()) {
  state_->trace = trace;
  state_->metrics = metrics ? std::move(metrics) : std::make_shared<WorkerMetrics>();
  state_->spec = std::move(spec);
  state_->task = task_index;
  state_->pool = pool;
  state_->log = std::move(log);
}

WorkerRuntime::~WorkerRuntime() { Stop(); }

bool WorkerRuntime::is_chief() const { return state_->chief(); }

Status WorkerRuntime::Submit(const std::string& yaml, const std::string& path, const std::string& graph_def,
                             int64_t trace_steps) {
  std::lock_guard<std::mutex> control(state_->control_mu);
  if (!state_->chief())
    return FailedPrecondition("worker " + std::to_string(state_->task) + " is not the chief; submit to worker " +
                              std::to_string(state_->spec.chief) + " at " + state_->spec.chief_task().address());
  const std::string job_id = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  return state_->Start(yaml, path, job_id, true, /*refuse_while_running=*/true, graph_def, trace_steps);
}

Status WorkerRuntime::Join(const std::string& yaml, const std::string& path, const std::string& job_id,
                           const std::string& graph_def, int64_t trace_steps) {
  std::lock_guard<std::mutex> control(state_->control_mu);
  return state_->Start(yaml, path, job_id, false, /*refuse_while_running=*/false, graph_def, trace_steps);
}

void WorkerRuntime::Stop() {
  std::lock_guard<std::mutex> control(state_->control_mu);
  state_->StopThread();
}

kj::Promise<void> WorkerRuntime::StopAsync() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->stop_requested = true;
  state_->checkpoint_on_stop = true;
  if (state_->cancel) state_->cancel->fulfill();
  if (!state_->thread_running) return kj::READY_NOW;
  auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
  state_->ended.push_back(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

const WorkerMetrics& WorkerRuntime::metrics() const { return *state_->metrics; }

WorkerJobStatus WorkerRuntime::Snapshot() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->status;
}

namespace {

// Runs on the RPC loop and never waits there for a job thread: a running job
// is stopped through StopAsync first, so that starting or stopping a job
// needs no pool thread (a worker with --threads 1 stops its job too).
class WorkerControlImpl final : public wire::WorkerControl::Server {
 public:
  explicit WorkerControlImpl(std::shared_ptr<WorkerRuntime> runtime) : runtime_(std::move(runtime)) {}

  kj::Promise<void> startJob(StartJobContext context) override {
    auto p = context.getParams();
    std::string yaml = p.getJobYaml(), path = p.getJobPath(), id = p.getJobId();
    auto bytes = p.getGraphDef();
    std::string graph(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
    const int64_t trace_steps = p.getTraceSteps();
    auto rt = runtime_;
    auto check = [](Status s) {
      if (!s.ok()) kj::throwFatalException(KJ_EXCEPTION(FAILED, s.message()));
    };
    if (!p.getFromChief()) {
      check(rt->Submit(yaml, path, graph, trace_steps));
      return kj::READY_NOW;
    }
    return rt->StopAsync().then(
        [rt, yaml, path, id, graph, check, trace_steps]() { check(rt->Join(yaml, path, id, graph, trace_steps)); });
  }

  kj::Promise<void> stop(StopContext) override { return runtime_->StopAsync(); }

  kj::Promise<void> status(StatusContext context) override {
    WorkerJobStatus s = runtime_->Snapshot();
    auto out = context.getResults().initStatus();
    out.setState(JobStateName(s.state));
    out.setJob(s.job);
    out.setJobId(s.job_id);
    out.setChief(s.chief);
    out.setGlobalStep(s.global_step);
    out.setTotalSteps(s.total_steps);
    out.setLocalSteps(s.local_steps);
    out.setExamples(s.examples);
    out.setLoss(s.loss);
    out.setExamplesPerSec(s.examples_per_sec);
    out.setJobExamplesPerSec(s.job_examples_per_sec);
    out.setStaleDropped(s.stale_dropped);
    out.setTestAccuracy(s.test_accuracy);
    auto metrics = out.initTestMetrics(static_cast<unsigned>(s.test_metrics.size()));
    unsigned i = 0;
    for (const auto& [name, value] : s.test_metrics) {
      metrics[i].setName(name);
      metrics[i++].setValue(value);
    }
    out.setElapsedSeconds(s.elapsed_seconds);
    out.setError(s.error);
    out.setMetricsPath(s.metrics_path);
    out.setPlotPath(s.plot_path);
    out.setTracePath(s.trace_path);
    out.setResumedFrom(s.resumed_from);
    out.setCheckpointFailures(s.checkpoint_failures);
    out.setLastCheckpoint(s.last_checkpoint);
    out.setSample(s.sample);
    WriteWorkerMetrics(runtime_->metrics().Read(), context.getResults().initMetrics());
    return kj::READY_NOW;
  }

 private:
  std::shared_ptr<WorkerRuntime> runtime_;
};

}  // namespace

capnp::Capability::Client NewWorkerControl(ServiceEnv&, std::shared_ptr<WorkerRuntime> runtime) {
  return kj::heap<WorkerControlImpl>(std::move(runtime));
}

}  // namespace flowps

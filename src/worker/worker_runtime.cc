#include "worker/worker_runtime.h"

#include <spdlog/logger.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <thread>

#include <kj/async-io.h>
#include <kj/debug.h>

#include "core/job_spec.h"
#include "core/partition_plan.h"
#include "core/thread_pool.h"
#include "data/batch_iterator.h"
#include "data/dataset.h"
#include "net/pool_bridge.h"
#include "net/ps_client.h"
#include "net/rpc_client.h"
#include "net/rpc_server.h"
#include "net/worker.capnp.h"
#include "device/device_discovery.h"
#include "worker/local_devices.h"
#include "worker/local_model.h"
#include "worker/training_progress.h"

namespace flowps {
namespace {

// Variables above this size are split by rows across the ps shards.
constexpr int64_t kMinPartitionBytes = 256 * 1024;
// How often the chief checks that every other worker is on the job.
constexpr double kPeerSweepSeconds = 2.0;

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

bool Active(const std::string& state) { return state == "starting" || state == "running"; }

// Writes a PNG of the training loss and the test accuracy over time with gnuplot.
Status WritePlot(const std::string& job, const std::vector<ProgressReport>& reports, const std::string& png) {
  std::string script = "set terminal png size 900,700\nset output '" + png + "'\n";
  script += "set multiplot layout 2,1 title 'flowps job " + job + "'\nset grid\nset xlabel 'time (s)'\n";
  script += "set ylabel 'training loss'\nplot '-' using 1:2 with lines lw 2 title 'loss'\n";
  for (const ProgressReport& r : reports) script += fmt::format("{} {}\n", r.elapsed_sec, r.loss);
  script += "e\nset ylabel 'test accuracy (%)'\n";
  script += "plot '-' using 1:2 with linespoints lw 2 pt 7 title 'test accuracy'\n";
  bool any = false;
  for (const ProgressReport& r : reports)
    if (r.test_accuracy) {
      script += fmt::format("{} {}\n", r.elapsed_sec, 100.0 * *r.test_accuracy);
      any = true;
    }
  if (!any) script += "0 0\n";
  script += "e\nunset multiplot\n";
  FILE* gp = popen("gnuplot 2>&1", "w");
  if (gp == nullptr) return Unavailable("cannot run gnuplot for " + png);
  fwrite(script.data(), 1, script.size(), gp);
  int rc = pclose(gp);
  if (rc != 0)
    return Unavailable("gnuplot failed writing " + png + " (exit status " + std::to_string(rc) +
                       "; install it with: apt-get install gnuplot-nox)");
  return Status::OK();
}

}  // namespace

struct WorkerRuntime::State {
  ClusterSpec spec;
  int task = 0;
  ThreadPool* pool = nullptr;
  std::shared_ptr<spdlog::logger> log;

  std::mutex control_mu;  // serialises Submit, Join and Stop
  std::thread thread;     // guarded by control_mu

  mutable std::mutex mu;
  WorkerJobStatus status;                                // guarded by mu
  bool stop_requested = false;                           // guarded by mu
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> cancel;  // guarded by mu; set while a job thread runs

  bool chief() const { return task == spec.chief; }
  void Update(const std::function<void(WorkerJobStatus&)>& f) {
    std::lock_guard<std::mutex> lock(mu);
    f(status);
  }
  // REQUIRES: control_mu held.
  void StopThread() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop_requested = true;
      if (cancel) cancel->fulfill();
    }
    if (thread.joinable()) thread.join();
  }
  // Checks the job, then (unless refused while one runs) replaces the running one.
  // REQUIRES: control_mu held.
  Status Start(std::string yaml, std::string path, std::string job_id, bool as_chief, bool refuse_while_running);
};

namespace {

// One run of a job on one worker: its thread's event loop, ps client and model.
class JobRun {
 public:
  JobRun(WorkerRuntime::State& s, JobSpec job, std::string yaml, std::string path, std::string job_id,
         bool chief, kj::AsyncIoContext& io, kj::ForkedPromise<void>& cancelled)
      : s_(s), job_(std::move(job)), yaml_(std::move(yaml)), path_(std::move(path)), job_id_(std::move(job_id)),
        chief_(chief), io_(io), cancelled_(cancelled) {}

  Status Run();
  // Chief, after a stop: stops the workers it started (bounded).
  void StopPeers();

 private:
  template <typename T>
  T Await(kj::Promise<T> promise) {
    return promise
        .exclusiveJoin(cancelled_.addBranch().then([]() -> T {
          kj::throwFatalException(KJ_EXCEPTION(FAILED, "the job was stopped"));
        }))
        .wait(io_.waitScope);
  }
  Status Setup();
  // The model's variables from a pull. Pulled tensors may point into the RPC
  // response, which belongs to this thread's event loop; the model gets copies,
  // since the executor's pool threads hold and release them.
  Status SetPulled(PulledVariables& pulled) {
    for (auto& [name, value] : pulled.values) value = value.Clone();
    return model_->SetVariables(pulled.values);
  }
  // Chief: from now on, every kPeerSweepSeconds, starts any worker not on the job.
  void StartPeerSweeps();
  kj::Promise<void> SweepPeersForever();
  kj::Promise<void> EnsurePeer(size_t k);
  Status Evaluate(int64_t global_step);
  Status Report(int64_t global_step, std::optional<double> accuracy);
  Status Finish();

  WorkerRuntime::State& s_;
  JobSpec job_;
  std::string yaml_, path_, job_id_;
  bool chief_;
  kj::AsyncIoContext& io_;
  kj::ForkedPromise<void>& cancelled_;

  bool sync_ = true;
  int64_t total_ = 0, batch_ = 0, examples_per_step_ = 0;
  double start_ = 0;
  LocalDevices devices_;  // outlives model_, whose towers run on them
  std::unique_ptr<LocalModel> model_;
  std::unique_ptr<PsClient> ps_;
  std::vector<std::string> names_;
  data::Dataset test_;
  int64_t global_ = 0, start_step_ = 0, train_size_ = 1;
  double last_accuracy_ = -1;

  // Chief: metrics over the job (rate from the global step).
  std::unique_ptr<MetricsFile> metrics_;
  std::vector<ProgressReport> reports_;
  double report_time_ = 0;
  int64_t report_step_ = 0;
  double window_loss_ = 0, last_loss_ = 0, last_rate_ = 0;
  int64_t window_steps_ = 0;

  // Chief: the other workers, and the sweep that keeps them on the job.
  std::vector<int> peer_tasks_;
  std::vector<std::unique_ptr<RpcClient>> peers_;
  std::vector<bool> peer_reachable_;
  bool sweeping_ = false;
  kj::Maybe<kj::Promise<void>> sweep_;  // last: destroyed before what it uses
};

Status JobRun::Setup() {
  auto restored = Await(ps_->Configure(PsJobConfigFromJobSpec(job_)));
  const int64_t resumed = restored.empty() ? -1 : *std::min_element(restored.begin(), restored.end());
  std::map<std::string, InitializerDef> inits;
  for (const ModelVariable& v : model_->model().variables) {
    if (!v.initializer) return InvalidArgument("variable '" + v.name + "' has no initializer the ps can run");
    InitializerDef d;
    d.kind = kernels::InitializerKindName(v.initializer->kind);
    d.value = v.initializer->value;
    d.min = v.initializer->min;
    d.max = v.initializer->max;
    d.mean = v.initializer->mean;
    d.stddev = v.initializer->stddev;
    d.seed = v.initializer->seed;
    inits[v.name] = d;
  }
  const int created = Await(ps_->CreateVariables(std::move(inits)));
  s_.Update([&](WorkerJobStatus& st) { st.resumed_from = resumed; });
  if (resumed >= 0)
    s_.log->info("job '{}': resuming from checkpoint {} ({} variable parts restored by the ps)", job_.name, resumed,
                 ps_->plan().variables.size());
  else
    s_.log->info("job '{}': created {} variable parts on {} ps shards", job_.name, created, ps_->num_shards());
  for (const VariablePlacement& p : ps_->plan().variables) {
    std::string where;
    for (const VariablePart& part : p.parts)
      where += fmt::format("{}ps:{} rows [{}, {})", where.empty() ? "" : ", ", part.shard, part.row_begin, part.row_end);
    s_.log->debug("variable {} {}: {}", p.name, p.full_shape.ToString(), where);
  }
  for (size_t k = 0; k < s_.spec.workers.size(); ++k) {
    if (static_cast<int>(k) == s_.task) continue;
    RpcClientOptions o;
    o.address = s_.spec.workers[k].address();
    o.token = s_.spec.token;
    o.connect_timeout = std::chrono::milliseconds(1500);
    o.call_timeout = std::chrono::milliseconds(5000);
    peer_tasks_.push_back(static_cast<int>(k));
    peers_.push_back(std::make_unique<RpcClient>(io_, o));
    peer_reachable_.push_back(true);
  }
  if (!job_.run_dir.empty()) {
    FLOWPS_ASSIGN_OR_RETURN(metrics_, MetricsFile::Open(job_.run_dir));
  }
  return Status::OK();
}

kj::Promise<void> JobRun::EnsurePeer(size_t k) {
  RpcClient& c = *peers_[k];
  const int task = peer_tasks_[k];
  return c.GetService("worker")
      .then([this, &c, task](capnp::Capability::Client cap) {
        auto w = cap.castAs<wire::WorkerControl>();
        return c.Call(w.statusRequest().send(), "status")
            .then([this, &c, w, task](capnp::Response<wire::WorkerControl::StatusResults> r) mutable -> kj::Promise<void> {
              auto st = r.getStatus();
              std::string state = st.getState();
              if (std::string(st.getJobId()) == job_id_ && (Active(state) || state == "done")) return kj::READY_NOW;
              s_.log->info("starting worker {} on job '{}' (it was {})", task, job_.name, state);
              auto req = w.startJobRequest();
              req.setJobYaml(yaml_);
              req.setJobPath(path_);
              req.setFromChief(true);
              req.setJobId(job_id_);
              return c.Call(req.send(), "startJob").ignoreResult();
            });
      })
      .then(
          [this, k, task]() {
            if (!peer_reachable_[k]) s_.log->info("worker {} is back", task);
            peer_reachable_[k] = true;
          },
          [this, k, task](kj::Exception&& e) {
            if (peer_reachable_[k])
              s_.log->warn("worker {} is not on the job ({}); trying again every {} s", task, e.getDescription().cStr(),
                           kPeerSweepSeconds);
            peer_reachable_[k] = false;
          });
}

void JobRun::StartPeerSweeps() {
  if (sweeping_ || peers_.empty()) return;
  sweeping_ = true;
  sweep_ = SweepPeersForever().eagerlyEvaluate(nullptr);
}

// Runs on this thread's event loop, also while the job thread waits in
// Await (e.g. for a sync step that a lost worker holds up), so a worker whose
// job failed or whose process was restarted is started again within
// kPeerSweepSeconds even when no step completes meanwhile.
kj::Promise<void> JobRun::SweepPeersForever() {
  auto all = kj::heapArrayBuilder<kj::Promise<void>>(peers_.size());
  for (size_t k = 0; k < peers_.size(); ++k) all.add(EnsurePeer(k));
  return kj::joinPromises(all.finish())
      .then([this]() {
        return io_.provider->getTimer().afterDelay(static_cast<int64_t>(kPeerSweepSeconds * 1000) * kj::MILLISECONDS);
      })
      .then([this]() { return SweepPeersForever(); });
}

void JobRun::StopPeers() {
  if (peers_.empty()) return;
  sweep_ = nullptr;
  auto all = kj::heapArrayBuilder<kj::Promise<void>>(peers_.size());
  for (auto& peer : peers_) {
    RpcClient& c = *peer;
    all.add(c.GetService("worker")
                .then([&c](capnp::Capability::Client cap) {
                  return c.Call(cap.castAs<wire::WorkerControl>().stopRequest().send(), "stop").ignoreResult();
                })
                .catch_([](kj::Exception&&) {}));
  }
  kj::joinPromises(all.finish()).wait(io_.waitScope);
}

Status JobRun::Evaluate(int64_t global_step) {
  FLOWPS_ASSIGN_OR_RETURN(double accuracy, model_->Evaluate(test_));
  last_accuracy_ = accuracy;
  s_.Update([&](WorkerJobStatus& st) { st.test_accuracy = accuracy; });
  return Report(global_step, accuracy);
}

// Chief: one progress line (and metrics row) over the steps since the last.
Status JobRun::Report(int64_t global_step, std::optional<double> accuracy) {
  const double now = Now();
  ProgressReport r;
  r.step = global_step;
  r.total_steps = total_;
  r.epoch = static_cast<double>(global_step * examples_per_step_) / static_cast<double>(train_size_);
  // A report right after another (an evaluation) repeats its loss and rate.
  if (window_steps_ > 0) last_loss_ = window_loss_ / static_cast<double>(window_steps_);
  r.loss = last_loss_;
  const double dt = now - report_time_;
  if (global_step - report_step_ >= 10 && dt > 0) last_rate_ = static_cast<double>(global_step - report_step_) / dt;
  const double rate = last_rate_;
  r.examples_per_sec = rate * static_cast<double>(examples_per_step_);
  r.elapsed_sec = now - start_;
  r.eta_sec = rate > 0 ? static_cast<double>(total_ - global_step) / rate : 0;
  r.test_accuracy = accuracy;
  if (global_step - report_step_ >= 10) {
    report_time_ = now;
    report_step_ = global_step;
  }
  window_loss_ = 0;
  window_steps_ = 0;
  s_.Update([&](WorkerJobStatus& st) { st.job_examples_per_sec = r.examples_per_sec; });
  s_.log->info("job {}", FormatProgress(r));
  reports_.push_back(r);
  if (metrics_) FLOWPS_RETURN_IF_ERROR(metrics_->Append(r));
  return Status::OK();
}

Status JobRun::Finish() {
  auto pulled = Await(ps_->Pull(names_));
  FLOWPS_RETURN_IF_ERROR(SetPulled(pulled));
  const int64_t step = *std::min_element(pulled.shard_steps.begin(), pulled.shard_steps.end());
  if (!job_.checkpoint.dir.empty()) Await(ps_->Checkpoint(step));
  FLOWPS_RETURN_IF_ERROR(Evaluate(step));
  const double seconds = Now() - start_;
  std::string metrics_path, plot_path;
  if (metrics_) {
    metrics_path = metrics_->path();
    std::string png = job_.run_dir + "/curves.png";
    Status plotted = WritePlot(job_.name, reports_, png);
    if (plotted.ok())
      plot_path = png;
    else
      s_.log->warn("no plot: {}", plotted.message());
  }
  const double rate =
      seconds > 0 ? static_cast<double>((step - start_step_) * examples_per_step_) / seconds : 0;
  s_.Update([&](WorkerJobStatus& st) {
    st.metrics_path = metrics_path;
    st.plot_path = plot_path;
    st.job_examples_per_sec = rate;
    st.elapsed_seconds = seconds;
  });
  s_.log->info("job '{}' done: final test accuracy {:.2f}% at step {} in {}, {:.0f} examples/s{}{}", job_.name,
               100.0 * last_accuracy_, step, FormatDuration(seconds), rate, metrics_path.empty() ? "" : "; metrics: " + metrics_path,
               plot_path.empty() ? "" : "; plot: " + plot_path);
  return Status::OK();
}

Status JobRun::Run() {
  start_ = Now();
  report_time_ = start_;
  const TaskSpec& me = s_.spec.workers[static_cast<size_t>(s_.task)];
  if (!job_.data.train.empty() || !job_.data.feeds.empty())
    return Unimplemented(job_.data.where + ": the distributed worker reads IDX from data.path only so far; "
                         "data.train/test and data.feeds are read by flowps train");
  FLOWPS_ASSIGN_OR_RETURN(data::Dataset train, data::LoadFashionMnist(job_.data.path, data::Split::kTrain));
  if (chief_) {
    FLOWPS_ASSIGN_OR_RETURN(test_, data::LoadFashionMnist(job_.data.path, data::Split::kTest));
  }
  data::BatchOptions batching;
  batching.batch_size = job_.data.batch_size;
  batching.shuffle = job_.data.shuffle;
  batching.seed = static_cast<uint64_t>(job_.data.seed) + static_cast<uint64_t>(s_.task);
  batching.shard_index = s_.task;
  batching.num_shards = static_cast<int>(s_.spec.workers.size());
  FLOWPS_ASSIGN_OR_RETURN(data::BatchIterator batches, data::BatchIterator::Create(train, batching));

  auto probe = NewGpuProbe();
  FLOWPS_ASSIGN_OR_RETURN(devices_, OpenLocalDevices(me, *probe, *s_.log));
  FLOWPS_ASSIGN_OR_RETURN(model_, LocalModel::Create(job_.model, job_.optimizer, s_.pool, devices_.towers));
  std::vector<VariableInfo> infos;
  for (const ModelVariable& v : model_->model().variables) {
    infos.push_back(VariableInfo{v.name, DType::kFloat32, v.initial_value.shape()});
    names_.push_back(v.name);
  }
  FLOWPS_ASSIGN_OR_RETURN(PartitionPlan plan,
                          PlanPartitions(infos, static_cast<int>(s_.spec.ps.size()), kMinPartitionBytes));
  PsClientOptions options;
  for (const TaskSpec& ps : s_.spec.ps) options.shard_addresses.push_back(ps.address());
  options.token = s_.spec.token;
  ps_ = std::make_unique<PsClient>(io_, options, std::move(plan));

  train_size_ = std::max<int64_t>(1, train.size());
  sync_ = job_.mode.mode == TrainingMode::kSync;
  batch_ = job_.data.batch_size;
  examples_per_step_ = batch_ * (sync_ ? job_.mode.replicas_to_aggregate : 1);
  const int64_t per_epoch =
      (train.size() + examples_per_step_ - 1) / std::max<int64_t>(1, examples_per_step_);
  total_ = job_.steps > 0 ? job_.steps : static_cast<int64_t>(std::ceil(job_.epochs * static_cast<double>(per_epoch)));
  s_.Update([&](WorkerJobStatus& st) { st.total_steps = total_; });
  if (chief_) FLOWPS_RETURN_IF_ERROR(Setup());
  std::string tower_names;
  for (const Device* d : devices_.towers.devices) tower_names += (tower_names.empty() ? "" : ", ") + d->name();
  s_.log->info("job '{}' ({} mode): worker {} of {} trains on examples {} of its shard, {} tower(s) on {}, until step {}",
               job_.name, TrainingModeName(job_.mode.mode), s_.task, s_.spec.workers.size(), batches.shard_size(),
               model_->num_towers(), tower_names, total_);

  CheckpointPolicy checkpoints(job_.checkpoint.every_steps, job_.checkpoint.every_seconds);
  int64_t next_eval = -1;
  int64_t local = 0, stale = 0, window_examples = 0, window_n = 0;
  double window_loss = 0, window_start = Now();
  bool first = true;
  while (true) {
    auto pulled = Await(ps_->Pull(names_));
    global_ = *std::min_element(pulled.shard_steps.begin(), pulled.shard_steps.end());
    s_.Update([&](WorkerJobStatus& st) {
      st.global_step = global_;
      st.state = "running";
      st.elapsed_seconds = Now() - start_;
    });
    if (global_ >= total_) break;
    FLOWPS_RETURN_IF_ERROR(SetPulled(pulled));
    if (chief_) {
      if (first) {
        start_step_ = report_step_ = global_;
        checkpoints.Saved(global_, std::chrono::steady_clock::now());
        if (job_.eval_every_steps > 0) next_eval = (global_ / job_.eval_every_steps + 1) * job_.eval_every_steps;
      }
      if (next_eval > 0 && global_ >= next_eval) {
        FLOWPS_RETURN_IF_ERROR(Evaluate(global_));
        next_eval = (global_ / job_.eval_every_steps + 1) * job_.eval_every_steps;
      }
      if (!job_.checkpoint.dir.empty() && checkpoints.Due(global_, std::chrono::steady_clock::now())) {
        Await(ps_->Checkpoint(global_));
        checkpoints.Saved(global_, std::chrono::steady_clock::now());
        s_.log->info("checkpoint {} written by every ps shard", global_);
      }
      StartPeerSweeps();
    }
    first = false;

    data::Batch batch = batches.Next();
    auto grads = model_->ComputeGradients(batch.images, batch.labels);
    if (!grads.ok()) return grads.status().WithContext("worker " + std::to_string(s_.task) + " at step " + std::to_string(global_));
    auto replies = Await(ps_->Push(s_.task, pulled.shard_steps, std::move(grads->grads)));
    const bool dropped = std::any_of(replies.begin(), replies.end(),
                                     [](const ShardPushReply& r) { return r.outcome == PushReplyOutcome::kStale; });
    stale += dropped;
    if (sync_) {
      std::vector<int64_t> next = pulled.shard_steps;
      for (int64_t& step : next) ++step;
      Await(ps_->WaitForStep(std::move(next)));
    }
    ++local;
    const int64_t n = batch.images.shape().dim(0);
    window_examples += n;
    window_loss += grads->loss;
    ++window_n;
    window_loss_ += grads->loss;
    ++window_steps_;
    s_.Update([&](WorkerJobStatus& st) {
      st.local_steps = local;
      st.examples += n;
      st.stale_dropped = stale;
    });
    if (local % job_.log_every_steps == 0) {
      const double now = Now();
      const double rate = static_cast<double>(window_examples) / std::max(1e-9, now - window_start);
      const double loss = window_loss / static_cast<double>(window_n);
      s_.Update([&](WorkerJobStatus& st) {
        st.loss = loss;
        st.examples_per_sec = rate;
      });
      s_.log->info("worker {}: global step {}  loss {:.4f}  {:.0f} ex/s  stale dropped {}", s_.task, global_, loss,
                   rate, stale);
      window_examples = 0;
      window_loss = 0;
      window_n = 0;
      window_start = now;
      if (chief_) FLOWPS_RETURN_IF_ERROR(Report(global_, std::nullopt));
    }
  }
  if (chief_) return Finish();
  s_.log->info("worker {}: job '{}' reached step {}; {} steps of its own, {} dropped as stale", s_.task, job_.name,
               global_, local, stale);
  return Status::OK();
}

}  // namespace

Status WorkerRuntime::State::Start(std::string yaml, std::string path, std::string job_id, bool as_chief,
                                   bool refuse_while_running) {
  auto parsed = ParseJobSpec(yaml, path);
  if (!parsed.ok()) return parsed.status();
  JobSpec job = std::move(parsed).value();
  const int workers = static_cast<int>(spec.workers.size());
  if (job.mode.total_workers != workers)
    return InvalidArgument(path + ": key 'mode.total_workers' is " + std::to_string(job.mode.total_workers) +
                           " but cluster " + spec.path + " has " + std::to_string(workers) + " workers");
  if (job.model.kind == ModelKind::kGraphFile)
    return InvalidArgument(path + ": key 'model.type': a graph file carries no initializers for the ps; submit a "
                           "built-in model (softmax, mlp, cnn) or run it with flowps train");
  {
    std::lock_guard<std::mutex> lock(mu);
    if (refuse_while_running && Active(status.state))
      return FailedPrecondition("job '" + status.job + "' is running (step " + std::to_string(status.global_step) +
                                " of " + std::to_string(status.total_steps) + "); submit again when it has ended");
  }
  if (thread.joinable()) StopThread();
  {
    std::lock_guard<std::mutex> lock(mu);
    status = WorkerJobStatus{};
    status.state = "starting";
    status.job = job.name;
    status.job_id = job_id;
    status.chief = as_chief;
    stop_requested = false;
  }
  log->info("{} job '{}' from {}", as_chief ? "starting" : "joining", job.name, path);
  thread = std::thread([this, job, yaml = std::move(yaml), path = std::move(path), job_id, as_chief]() {
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
    {
      JobRun run(*this, job, yaml, path, job_id, as_chief, io, cancelled);
      try {
        result = run.Run();
      } catch (const kj::Exception& e) {
        result = Unavailable(e.getDescription().cStr());
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        stopped = stop_requested;
      }
      if (stopped && as_chief) run.StopPeers();
    }
    std::lock_guard<std::mutex> lock(mu);
    cancel = nullptr;
    if (stopped) {
      status.state = "stopped";
      log->info("job '{}' stopped", job.name);
    } else if (!result.ok()) {
      status.state = "failed";
      status.error = result.message();
      log->error("job '{}' failed: {}", job.name, result.message());
    } else {
      status.state = "done";
    }
  });
  return Status::OK();
}

WorkerRuntime::WorkerRuntime(ClusterSpec spec, int task_index, ThreadPool* pool, std::shared_ptr<spdlog::logger> log)
    : state_(std::make_shared<State>()) {
  state_->spec = std::move(spec);
  state_->task = task_index;
  state_->pool = pool;
  state_->log = std::move(log);
}

WorkerRuntime::~WorkerRuntime() { Stop(); }

bool WorkerRuntime::is_chief() const { return state_->chief(); }

Status WorkerRuntime::Submit(const std::string& yaml, const std::string& path) {
  std::lock_guard<std::mutex> control(state_->control_mu);
  if (!state_->chief())
    return FailedPrecondition("worker " + std::to_string(state_->task) + " is not the chief; submit to worker " +
                              std::to_string(state_->spec.chief) + " at " + state_->spec.chief_task().address());
  const std::string job_id = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  return state_->Start(yaml, path, job_id, true, /*refuse_while_running=*/true);
}

Status WorkerRuntime::Join(const std::string& yaml, const std::string& path, const std::string& job_id) {
  std::lock_guard<std::mutex> control(state_->control_mu);
  return state_->Start(yaml, path, job_id, false, /*refuse_while_running=*/false);
}

void WorkerRuntime::Stop() {
  std::lock_guard<std::mutex> control(state_->control_mu);
  state_->StopThread();
}

WorkerJobStatus WorkerRuntime::Snapshot() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->status;
}

namespace {

class WorkerControlImpl final : public wire::WorkerControl::Server {
 public:
  WorkerControlImpl(ServiceEnv& env, std::shared_ptr<WorkerRuntime> runtime) : pool_(env.pool), runtime_(std::move(runtime)) {}

  kj::Promise<void> startJob(StartJobContext context) override {
    auto p = context.getParams();
    std::string yaml = p.getJobYaml(), path = p.getJobPath(), id = p.getJobId();
    const bool from_chief = p.getFromChief();
    auto rt = runtime_;
    return RunOnPool(pool_, [rt, yaml, path, id, from_chief]() {
             return from_chief ? rt->Join(yaml, path, id) : rt->Submit(yaml, path);
           })
        .then([](Status s) {
          if (!s.ok()) kj::throwFatalException(KJ_EXCEPTION(FAILED, s.message()));
        });
  }

  kj::Promise<void> stop(StopContext) override {
    auto rt = runtime_;
    return RunOnPool(pool_, [rt]() { rt->Stop(); });
  }

  kj::Promise<void> status(StatusContext context) override {
    WorkerJobStatus s = runtime_->Snapshot();
    auto out = context.getResults().initStatus();
    out.setState(s.state);
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
    out.setElapsedSeconds(s.elapsed_seconds);
    out.setError(s.error);
    out.setMetricsPath(s.metrics_path);
    out.setPlotPath(s.plot_path);
    out.setResumedFrom(s.resumed_from);
    return kj::READY_NOW;
  }

 private:
  ThreadPool& pool_;
  std::shared_ptr<WorkerRuntime> runtime_;
};

}  // namespace

capnp::Capability::Client NewWorkerControl(ServiceEnv& env, std::shared_ptr<WorkerRuntime> runtime) {
  return kj::heap<WorkerControlImpl>(env, std::move(runtime));
}

}  // namespace flowps

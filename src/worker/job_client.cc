#include "worker/job_client.h"

#include <fmt/format.h>

#include <memory>

#include "core/json_line.h"
#include "net/rpc_client.h"
#include "net/rpc_common.h"
#include "net/worker.capnp.h"
#include "worker/model_metrics.h"

namespace flowps {
namespace {

std::unique_ptr<RpcClient> ClientFor(kj::AsyncIoContext& io, const ClusterSpec& spec, const TaskSpec& task,
                                     std::chrono::milliseconds timeout) {
  return std::make_unique<RpcClient>(io, ClientOptionsFor(spec, task, timeout, timeout));
}

WorkerJobStatus FromWire(wire::WorkerStatus::Reader s) {
  WorkerJobStatus j;
  j.state = ParseJobState(s.getState());
  j.job = s.getJob();
  j.job_id = s.getJobId();
  j.chief = s.getChief();
  j.global_step = s.getGlobalStep();
  j.total_steps = s.getTotalSteps();
  j.local_steps = s.getLocalSteps();
  j.examples = s.getExamples();
  j.loss = s.getLoss();
  j.examples_per_sec = s.getExamplesPerSec();
  j.job_examples_per_sec = s.getJobExamplesPerSec();
  j.stale_dropped = s.getStaleDropped();
  j.test_accuracy = s.getTestAccuracy();
  for (auto m : s.getTestMetrics()) j.test_metrics[m.getName()] = m.getValue();
  j.elapsed_seconds = s.getElapsedSeconds();
  j.error = s.getError();
  j.metrics_path = s.getMetricsPath();
  j.plot_path = s.getPlotPath();
  j.trace_path = s.getTracePath();
  j.resumed_from = s.getResumedFrom();
  j.checkpoint_failures = s.getCheckpointFailures();
  j.last_checkpoint = s.getLastCheckpoint();
  j.sample = s.getSample();
  return j;
}

}  // namespace

Status SubmitJob(kj::AsyncIoContext& io, const ClusterSpec& spec, const std::string& yaml, const std::string& path,
                 std::chrono::milliseconds timeout, const std::string& graph_def, int64_t trace_steps) {
  auto client = ClientFor(io, spec, spec.chief_task(), timeout);
  Status result;
  client->GetService("worker")
      .then([&](capnp::Capability::Client cap) {
        auto req = cap.castAs<wire::WorkerControl>().startJobRequest();
        req.setJobYaml(yaml);
        req.setJobPath(path);
        req.setFromChief(false);
        req.setGraphDef(kj::arrayPtr(reinterpret_cast<const kj::byte*>(graph_def.data()), graph_def.size()));
        req.setTraceSteps(static_cast<uint32_t>(trace_steps));
        return client->Call(req.send(), "startJob").ignoreResult();
      })
      .then([]() {}, [&](kj::Exception&& e) { result = StatusFromException(e, ""); })
      .wait(io.waitScope);
  return result;
}

namespace {

kj::Promise<void> StopWorker(RpcClient& client) {
  return client.GetService("worker").then([&client](capnp::Capability::Client cap) {
    return client.Call(cap.castAs<wire::WorkerControl>().stopRequest().send(), "stop").ignoreResult();
  });
}

}  // namespace

Status StopJob(kj::AsyncIoContext& io, const ClusterSpec& spec, std::chrono::milliseconds timeout) {
  auto chief = ClientFor(io, spec, spec.chief_task(), timeout);
  Status result = WaitFor(StopWorker(*chief), io.waitScope, "");
  std::vector<TaskSpec> others;
  for (size_t i = 0; i < spec.workers.size(); ++i)
    if (static_cast<int>(i) != spec.chief) others.push_back(spec.workers[i]);
  // An idle or absent worker holds no job: its failure is dropped.
  CallEach(io, spec, others, timeout, [](size_t, RpcClient& client) { return StopWorker(client); });
  return result;
}

std::vector<WorkerReport> QueryWorkers(kj::AsyncIoContext& io, const ClusterSpec& spec,
                                       std::chrono::milliseconds timeout) {
  std::vector<WorkerReport> reports(spec.workers.size());
  for (size_t i = 0; i < spec.workers.size(); ++i) reports[i].task = spec.workers[i];
  CallEach(io, spec, spec.workers, timeout, [&reports](size_t i, RpcClient& client) {
    RpcClient* c = &client;
    WorkerReport* report = &reports[i];
    return c->GetService("worker")
        .then([c](capnp::Capability::Client cap) {
          return c->Call(cap.castAs<wire::WorkerControl>().statusRequest().send(), "status");
        })
        .then(
            [report](capnp::Response<wire::WorkerControl::StatusResults> r) {
              report->job = FromWire(r.getStatus());
              StatusOr<WorkerMetricsSnapshot> metrics = ReadWorkerMetrics(r.getMetrics());
              if (metrics.ok()) {
                report->metrics = std::move(metrics).value();
              } else {
                report->status = metrics.status();
              }
            },
            [report](kj::Exception&& e) { report->status = StatusFromException(e, ""); });
  });
  return reports;
}

std::string FormatTestResult(const WorkerJobStatus& j) {
  if (!j.test_metrics.empty()) return "test " + FormatMetrics(j.test_metrics);
  return j.test_accuracy < 0 ? std::string("test accuracy -") : fmt::format("test accuracy {:.2f}%", 100.0 * j.test_accuracy);
}

std::string FormatJobTable(const ClusterSpec& spec, const std::vector<WorkerReport>& reports) {
  std::string out;
  const WorkerReport& chief = reports[static_cast<size_t>(spec.chief)];
  if (!chief.status.ok()) {
    out += "job: the chief " + chief.task.name() + " does not answer: " + chief.status.ToString() + "\n";
  } else if (chief.job.state == JobState::kIdle) {
    out += "job: none (submit one with flowps submit <job.yaml> --cluster " + spec.path + ")\n";
  } else {
    const WorkerJobStatus& j = chief.job;
    out += fmt::format("job '{}' {}: global step {}/{}  loss {:.4f}  {}  {:.0f} examples/s\n", j.job,
                       JobStateName(j.state), j.global_step, j.total_steps, j.loss, FormatTestResult(j),
                       j.job_examples_per_sec);
    if (!j.error.empty()) out += "  error: " + j.error + "\n";
    if (j.resumed_from >= 0) out += fmt::format("  resumed from checkpoint {} (restored by every ps shard)\n", j.resumed_from);
    if (j.last_checkpoint >= 0 || j.checkpoint_failures > 0)
      out += fmt::format("  last checkpoint {}  failed checkpoints {}\n",
                         j.last_checkpoint >= 0 ? std::to_string(j.last_checkpoint) : std::string("-"),
                         j.checkpoint_failures);
    if (!j.trace_path.empty()) out += "  trace: " + j.trace_path + "\n";
  }
  for (const WorkerReport& r : reports) {
    if (!r.status.ok()) {
      out += fmt::format("  {:<22} DOWN\n", r.task.name());
      continue;
    }
    const WorkerJobStatus& j = r.job;
    out += fmt::format("  {:<22} {:<8} steps {:<6} loss {:.4f}  {:.0f} ex/s  stale dropped {}{}\n", r.task.name(),
                       JobStateName(j.state), j.local_steps, j.loss, j.examples_per_sec, j.stale_dropped, j.chief ? "  (chief)" : "");
    if (!j.chief && !j.error.empty()) out += "    error: " + j.error + "\n";
  }
  return out;
}

std::string FormatJobJson(const ClusterSpec& spec, const std::vector<WorkerReport>& reports) {
  std::string workers;
  for (const WorkerReport& r : reports) {
    JsonLine w;
    w.Add("task", r.task.name()).Add("reachable", r.status.ok());
    if (r.status.ok())
      w.Add("state", std::string(JobStateName(r.job.state)))
          .Add("steps", r.job.local_steps)
          .Add("loss", r.job.loss)
          .Add("examples_per_sec", r.job.examples_per_sec)
          .Add("stale_dropped", r.job.stale_dropped);
    if (r.status.ok() && !r.job.error.empty()) w.Add("error", r.job.error);
    workers += (workers.empty() ? "" : ",") + w.str();
  }
  const WorkerReport& chief = reports[static_cast<size_t>(spec.chief)];
  JsonLine j;
  j.Add("job", chief.job.job).Add("state", std::string(chief.status.ok() ? JobStateName(chief.job.state) : "unreachable"));
  j.Add("global_step", chief.job.global_step).Add("total_steps", chief.job.total_steps).Add("loss", chief.job.loss);
  if (chief.job.test_accuracy >= 0) j.Add("test_accuracy", chief.job.test_accuracy);
  if (!chief.job.test_metrics.empty()) {
    JsonLine m;
    for (const auto& [name, value] : chief.job.test_metrics) m.Add(name, value);
    j.AddRaw("test_metrics", m.str());
  }
  j.Add("examples_per_sec", chief.job.job_examples_per_sec);
  if (!chief.job.error.empty()) j.Add("error", chief.job.error);
  j.Add("resumed_from", chief.job.resumed_from).Add("last_checkpoint", chief.job.last_checkpoint);
  j.Add("checkpoint_failures", chief.job.checkpoint_failures);
  if (!chief.job.trace_path.empty()) j.Add("trace", chief.job.trace_path);
  return j.AddRaw("workers", "[" + workers + "]").str();
}

}  // namespace flowps

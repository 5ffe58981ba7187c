#include "cli/dashboard_server.h"

#include <CivetServer.h>
#include <fmt/format.h>

#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <optional>
#include <mutex>
#include <thread>
#include <vector>

#include "cli/dashboard_page.h"
#include "cli/top_view.h"
#include "core/json_line.h"

namespace flowps {
namespace {

constexpr size_t kMaxCurvePoints = 2000;  // then every other point is dropped

std::string Points(const std::vector<std::pair<int64_t, double>>& points) {
  std::string out;
  for (const auto& [step, value] : points) out += (out.empty() ? "" : ",") + fmt::format("[{},{}]", step, value);
  return "[" + out + "]";
}

void Append(std::vector<std::pair<int64_t, double>>& curve, int64_t step, double value) {
  if (!curve.empty() && curve.back().first == step) return;
  if (curve.size() >= kMaxCurvePoints) {
    std::vector<std::pair<int64_t, double>> kept;
    for (size_t i = 0; i < curve.size(); i += 2) kept.push_back(curve[i]);
    curve = std::move(kept);
  }
  curve.emplace_back(step, value);
}

void Reply(mg_connection* conn, const char* type, const std::string& body) {
  mg_printf(conn,
            "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nCache-Control: no-store\r\nContent-Length: %zu\r\n"
            "Connection: close\r\n\r\n",
            type, body.size());
  mg_write(conn, body.data(), body.size());
}

class PageHandler final : public CivetHandler {
 public:
  bool handleGet(CivetServer*, mg_connection* conn) override {
    Reply(conn, "text/html; charset=utf-8", kDashboardPage);
    return true;
  }
};

// Serves what `read` returns.
class JsonHandler final : public CivetHandler {
 public:
  explicit JsonHandler(std::function<std::string()> read) : read_(std::move(read)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    Reply(conn, "application/json", read_());
    return true;
  }

 private:
  std::function<std::string()> read_;
};

}  // namespace

struct DashboardServer::State {
  ClusterSpec spec;
  std::chrono::milliseconds interval{1000};

  std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;   // guarded by mu
  std::string state_json;  // guarded by mu: the last /api/state
  std::thread sampler;

  // Sampler thread only.
  std::string job_id;
  int64_t evaluations = 0;
  std::vector<std::pair<int64_t, double>> loss_curve, accuracy_curve;

  PageHandler page;
  JsonHandler api{[this]() {
    std::lock_guard<std::mutex> lock(mu);
    return state_json.empty() ? std::string("{}") : state_json;
  }};
  std::unique_ptr<CivetServer> server;  // after the handlers: stopped before they go

  void Sample();
  std::string StateJson(const TopSample& now, const TopFrame& frame);
};

void DashboardServer::State::Sample() {
  auto io = kj::setupAsyncIo();
  std::optional<TopSample> previous;
  while (true) {
    TopSample now = TakeTopSample(io, spec, interval);
    const TopFrame frame = ComputeTopFrame(spec, previous ? &*previous : nullptr, now);
    std::string json = StateJson(now, frame);
    previous = std::move(now);
    std::unique_lock<std::mutex> lock(mu);
    state_json = std::move(json);
    if (wake.wait_for(lock, interval, [this] { return stopping; })) return;
  }
}

std::string DashboardServer::State::StateJson(const TopSample& now, const TopFrame& frame) {
  const WorkerReport& chief = now.workers[static_cast<size_t>(spec.chief)];
  const WorkerJobStatus& j = chief.job;
  if (chief.status.ok() && j.job_id != job_id) {
    job_id = j.job_id;
    loss_curve.clear();
    accuracy_curve.clear();
    evaluations = chief.metrics.evaluations;
  }
  if (chief.status.ok() && j.state != JobState::kIdle) {
    if (j.loss > 0) Append(loss_curve, j.global_step, j.loss);
    if (chief.metrics.evaluations > evaluations) {
      evaluations = chief.metrics.evaluations;
      Append(accuracy_curve, chief.metrics.evaluated_step, chief.metrics.test_accuracy);
    }
  }
  double steps_per_s = 0;
  for (const WorkerRow& w : frame.workers) steps_per_s = w.chief ? w.steps_per_s : steps_per_s;
  std::string workers, shards;
  for (const WorkerRow& w : frame.workers) {
    JsonLine o;
    o.Add("task", w.task).Add("state", w.reachable ? w.state : std::string("down")).Add("chief", w.chief);
    o.Add("steps", w.steps).Add("steps_per_s", w.steps_per_s).Add("examples_per_s", w.examples_per_s);
    o.Add("compute_ms", w.compute_ms).Add("push_ms", w.push_ms).Add("wait_ms", w.wait_ms);
    o.Add("staleness", w.staleness).Add("stale", w.stale).Add("resident_bytes", w.resident_bytes);
    o.Add("straggler", w.straggler);
    workers += (workers.empty() ? "" : ",") + o.str();
  }
  for (const ShardRow& s : frame.shards) {
    JsonLine o;
    o.Add("task", s.task).Add("error", s.error).Add("global_step", s.stats.global_step);
    o.Add("pushes_per_s", s.pushes_per_s).Add("applied", s.stats.applied_updates).Add("stale", s.stats.stale_dropped);
    o.Add("waiting", s.stats.waiting).Add("apply_ms", s.apply_ms);
    o.Add("variable_bytes", static_cast<int64_t>(s.stats.bytes)).Add("resident_bytes", s.stats.resident_bytes);
    shards += (shards.empty() ? "" : ",") + o.str();
  }
  JsonLine state;
  state.Add("job", chief.status.ok() ? j.job : std::string())
      .Add("state", chief.status.ok() ? std::string(JobStateName(j.state)) : std::string("unreachable"))
      .Add("global_step", j.global_step)
      .Add("total_steps", j.total_steps)
      .Add("steps_per_s", steps_per_s)
      .Add("loss", j.loss)
      .Add("test_accuracy", j.test_accuracy)
      .AddRaw("loss_curve", Points(loss_curve))
      .AddRaw("accuracy_curve", Points(accuracy_curve))
      .AddRaw("workers", "[" + workers + "]")
      .AddRaw("shards", "[" + shards + "]");
  return state.str();
}

StatusOr<std::unique_ptr<DashboardServer>> DashboardServer::Start(ClusterSpec spec, const std::string& host, int port,
                                                                  std::chrono::milliseconds interval) {
  std::unique_ptr<DashboardServer> d(new DashboardServer());
  d->state_ = std::make_unique<State>();
  State& s = *d->state_;
  s.spec = std::move(spec);
  s.interval = interval;
  const std::string address = host + ":" + std::to_string(port);
  try {
    s.server = std::make_unique<CivetServer>(std::vector<std::string>{"listening_ports", address, "num_threads", "2"});
  } catch (const std::exception& e) {
    return Unavailable("cannot serve the dashboard on " + address + ": " + e.what());
  }
  s.server->addHandler("/$", s.page);
  s.server->addHandler("/api/state", s.api);
  s.sampler = std::thread([&s]() { s.Sample(); });
  return d;
}

DashboardServer::~DashboardServer() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  if (state_->sampler.joinable()) state_->sampler.join();
  state_->server.reset();
}

}  // namespace flowps

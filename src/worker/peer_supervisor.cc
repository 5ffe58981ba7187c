#include "worker/peer_supervisor.h"

#include <spdlog/logger.h>

#include "net/rpc_client.h"
#include "net/worker.capnp.h"
#include "worker/job_status.h"

namespace flowps {

PeerSupervisor::PeerSupervisor(kj::AsyncIoContext& io, const ClusterSpec& spec, int task, PeerJob job,
                               spdlog::logger* log)
    : io_(io), job_(std::move(job)), log_(log) {
  for (size_t k = 0; k < spec.workers.size(); ++k) {
    if (static_cast<int>(k) == task) continue;
    tasks_.push_back(static_cast<int>(k));
    peers_.push_back(std::make_unique<RpcClient>(
        io_, ClientOptionsFor(spec, spec.workers[k], std::chrono::milliseconds(1500), std::chrono::milliseconds(5000))));
    reachable_.push_back(true);
  }
}

PeerSupervisor::~PeerSupervisor() = default;

void PeerSupervisor::Start() {
  if (started_ || peers_.empty()) return;
  started_ = true;
  sweep_ = SweepForever().eagerlyEvaluate(nullptr);
}

kj::Promise<void> PeerSupervisor::SweepForever() {
  auto all = kj::heapArrayBuilder<kj::Promise<void>>(peers_.size());
  for (size_t k = 0; k < peers_.size(); ++k) all.add(EnsurePeer(k));
  return kj::joinPromises(all.finish())
      .then([this]() {
        return io_.provider->getTimer().afterDelay(static_cast<int64_t>(kSweepSeconds * 1000) * kj::MILLISECONDS);
      })
      .then([this]() { return SweepForever(); });
}

kj::Promise<void> PeerSupervisor::EnsurePeer(size_t k) {
  RpcClient& c = *peers_[k];
  const int task = tasks_[k];
  return c.GetService("worker")
      .then([this, &c, task](capnp::Capability::Client cap) {
        auto w = cap.castAs<wire::WorkerControl>();
        return c.Call(w.statusRequest().send(), "status")
            .then([this, &c, w, task](capnp::Response<wire::WorkerControl::StatusResults> r) mutable -> kj::Promise<void> {
              auto st = r.getStatus();
              const std::string name = st.getState();
              const JobState state = ParseJobState(name);
              if (std::string(st.getJobId()) == job_.id && (IsActive(state) || state == JobState::kDone))
                return kj::READY_NOW;
              log_->info("starting worker {} on job '{}' (it was {})", task, job_.name, name);
              auto req = w.startJobRequest();
              req.setJobYaml(job_.yaml);
              req.setJobPath(job_.path);
              req.setFromChief(true);
              req.setJobId(job_.id);
              req.setGraphDef(kj::arrayPtr(reinterpret_cast<const kj::byte*>(job_.graph_def.data()),
                                           job_.graph_def.size()));
              req.setTraceSteps(static_cast<uint32_t>(job_.trace_steps));
              return c.Call(req.send(), "startJob").ignoreResult();
            });
      })
      .then(
          [this, k, task]() {
            if (!reachable_[k]) log_->info("worker {} is back", task);
            reachable_[k] = true;
          },
          [this, k, task](kj::Exception&& e) {
            if (reachable_[k])
              log_->warn("worker {} is not on the job ({}); trying again every {} s", task, e.getDescription().cStr(),
                         kSweepSeconds);
            reachable_[k] = false;
          });
}

void PeerSupervisor::StopPeers(kj::WaitScope& wait_scope) {
  sweep_ = nullptr;
  if (peers_.empty()) return;
  auto all = kj::heapArrayBuilder<kj::Promise<void>>(peers_.size());
  for (auto& peer : peers_) {
    RpcClient& c = *peer;
    all.add(c.GetService("worker")
                .then([&c](capnp::Capability::Client cap) {
                  return c.Call(cap.castAs<wire::WorkerControl>().stopRequest().send(), "stop").ignoreResult();
                })
                .catch_([](kj::Exception&&) {}));
  }
  kj::joinPromises(all.finish()).wait(wait_scope);
}

}  // namespace flowps

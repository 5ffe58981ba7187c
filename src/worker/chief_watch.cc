#include "worker/chief_watch.h"

#include <spdlog/logger.h>

#include "net/rpc_client.h"
#include "net/rpc_common.h"
#include "net/worker.capnp.h"
#include "worker/job_status.h"

namespace flowps {

ChiefWatch::ChiefWatch(kj::AsyncIoContext& io, const ClusterSpec& spec, std::string job_id,
                       std::function<void(const std::string&)> on_lost, spdlog::logger* log)
    : io_(io), chief_(spec.chief), job_id_(std::move(job_id)), on_lost_(std::move(on_lost)), log_(log) {
  client_ = std::make_unique<RpcClient>(
      io_, ClientOptionsFor(spec, spec.chief_task(), std::chrono::milliseconds(1500), std::chrono::milliseconds(5000)));
}

ChiefWatch::~ChiefWatch() = default;

void ChiefWatch::Start() {
  if (polls_ != nullptr) return;
  polls_ = PollForever().eagerlyEvaluate(nullptr);
}

kj::Promise<void> ChiefWatch::PollForever() {
  return io_.provider->getTimer()
      .afterDelay(static_cast<int64_t>(kPollSeconds * 1000) * kj::MILLISECONDS)
      .then([this]() { return Poll(); })
      .then([this](std::string lost) -> kj::Promise<void> {
        if (lost.empty()) return PollForever();
        log_->error("{}; this worker stops", lost);
        on_lost_(lost);
        return kj::READY_NOW;
      });
}

kj::Promise<std::string> ChiefWatch::Poll() {
  const std::string chief = "chief worker " + std::to_string(chief_);
  RpcClient& c = *client_;
  return c.GetService("worker")
      .then([&c](capnp::Capability::Client cap) {
        return c.Call(cap.castAs<wire::WorkerControl>().statusRequest().send(), "status");
      })
      .then(
          [this, chief](capnp::Response<wire::WorkerControl::StatusResults> r) -> std::string {
            misses_ = 0;
            auto st = r.getStatus();
            const JobState state = ParseJobState(st.getState());
            if (std::string(st.getJobId()) != job_id_)
              return chief + " lost: it no longer runs this job (it restarted, and is " +
                     std::string(JobStateName(state)) + "); submit the job again";
            if (state == JobState::kFailed) return chief + " failed: " + std::string(st.getError().cStr());
            return "";
          },
          [this, chief](kj::Exception&& e) -> std::string {
            const kj::TimePoint now = io_.provider->getTimer().now();
            if (misses_++ == 0) first_miss_ = now;
            const Status why = StatusFromException(e, "status");
            const int64_t silent_s = (now - first_miss_) / kj::SECONDS;
            if (misses_ < kMissesToLose || silent_s < kSilenceToLoseSeconds) {
              log_->warn("{} does not answer ({}); try {}, silent for {} s of {} s", chief, why.message(), misses_,
                         silent_s, kSilenceToLoseSeconds);
              return "";
            }
            return chief + " lost: no answer " + std::to_string(misses_) + " times in a row over " +
                   std::to_string(silent_s) + " s (" + why.message() + ")";
          });
}

}  // namespace flowps

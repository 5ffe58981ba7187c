// A worker's watch on its chief: every kPollSeconds it asks the chief for its
// status. The job is lost for this worker when the chief
//   - does not answer kMissesToLose times in a row over at least
//     kSilenceToLoseSeconds (killed, host down; a network cut shorter than
//     that, which the ps connections survive, does not stop the worker),
//   - answers with another run of the job or none (it restarted: a restarted
//     chief is idle until the job is submitted again), or
//   - reports the job failed.
// Then `on_lost` is called once with the reason ("chief worker 0 lost: ..."),
// and the watch ends. A worker blocked in a sync step that the chief's push
// would have completed is released this way instead of waiting forever.
//
// Threads: the job thread's (its KJ event loop); the polls run while the job
// thread waits there. Not thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <kj/async-io.h>

#include "core/cluster_spec.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace flowps {

class RpcClient;

class ChiefWatch {
 public:
  static constexpr double kPollSeconds = 2.0;
  static constexpr int kMissesToLose = 3;
  static constexpr int kSilenceToLoseSeconds = 15;

  // Watches spec's chief for run `job_id`. REQUIRES: io and log outlive it.
  ChiefWatch(kj::AsyncIoContext& io, const ClusterSpec& spec, std::string job_id,
             std::function<void(const std::string& reason)> on_lost, spdlog::logger* log);
  ~ChiefWatch();

  // Starts the polls (once; later calls do nothing).
  void Start();

 private:
  kj::Promise<void> PollForever();
  // The reason the job is lost, or "" while the chief runs it.
  kj::Promise<std::string> Poll();

  kj::AsyncIoContext& io_;
  const int chief_;
  const std::string job_id_;
  std::function<void(const std::string&)> on_lost_;
  spdlog::logger* log_;
  std::unique_ptr<RpcClient> client_;
  int misses_ = 0;
  kj::TimePoint first_miss_ = kj::origin<kj::TimePoint>();  // of the current run of misses
  kj::Maybe<kj::Promise<void>> polls_;  // last: destroyed before what it uses
};

}  // namespace flowps

// The chief's peer supervisor: keeps every other worker of the cluster on the
// job. Every kSweepSeconds it asks each for its status and starts the job on
// any that is not running it (a worker whose job failed, or a restarted
// flowps-worker, rejoins). The sweep runs on the job thread's event loop, so
// it goes on while the job thread waits (e.g. for a sync step that a lost
// worker holds up). After a stop, StopPeers stops the workers it started.
//
// Threads: the job thread's (its KJ event loop); not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <kj/async-io.h>

#include "core/cluster_spec.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace flowps {

class RpcClient;

// The job a chief runs, as it starts it on the other workers.
struct PeerJob {
  std::string name, yaml, path, id;
  std::string graph_def;  // the job's graph bytes (graph-file jobs), shipped to every worker
  int64_t trace_steps = 0;  // `flowps submit --trace N`: steps every worker traces
};

class PeerSupervisor {
 public:
  static constexpr double kSweepSeconds = 2.0;

  // The peers are every worker of `spec` but `task`. REQUIRES: io and log outlive it.
  PeerSupervisor(kj::AsyncIoContext& io, const ClusterSpec& spec, int task, PeerJob job, spdlog::logger* log);
  ~PeerSupervisor();

  // Starts the sweeps (once; later calls do nothing).
  void Start();
  // Ends the sweeps and stops every peer's job, waiting on `wait_scope` (bounded by the call timeout).
  void StopPeers(kj::WaitScope& wait_scope);

 private:
  kj::Promise<void> SweepForever();
  kj::Promise<void> EnsurePeer(size_t k);

  kj::AsyncIoContext& io_;
  PeerJob job_;
  spdlog::logger* log_;
  std::vector<int> tasks_;
  std::vector<std::unique_ptr<RpcClient>> peers_;
  std::vector<bool> reachable_;
  bool started_ = false;
  kj::Maybe<kj::Promise<void>> sweep_;  // last: destroyed before what it uses
};

}  // namespace flowps

// LocalCluster: a real cluster of processes on loopback for benchmarks --
// `flowps launch` (a child of this process) starting flowps-ps and
// flowps-worker tasks from a cluster spec written to a temporary folder.
// Jobs are submitted and watched through the worker service (worker/job_client.h).
// The destructor stops `flowps launch` (SIGTERM, which stops every task) and
// reaps it by PID; the folder is removed.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "bench/process_counters.h"
#include "core/cluster_spec.h"
#include "core/status.h"

namespace flowps {

struct LocalClusterOptions {
  int ps = 1;
  int workers = 2;
  std::string bin_dir;  // where flowps, flowps-ps and flowps-worker are; "": next to this program
  int ready_seconds = 30;
};

class LocalCluster {
 public:
  // Starts the cluster and waits until every worker answers.
  static StatusOr<std::unique_ptr<LocalCluster>> Start(const LocalClusterOptions& options);
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  const ClusterSpec& spec() const { return spec_; }
  // The resident set size of each flowps-worker process of the cluster
  // (children of flowps launch), in bytes, in task order; read from /proc.
  std::vector<int64_t> WorkerRssBytes() const;
  // What every task of the cluster (the flowps-ps and flowps-worker
  // processes, all their threads) has spent so far: CPU (from
  // /proc/<pid>/stat), context switches (summed over /proc/<pid>/task/*/status)
  // and read/write calls (/proc/<pid>/io). Tasks that ended are not counted.
  ProcessCounters TaskCounters() const;
  const std::string& dir() const { return dir_; }

 private:
  struct Task {
    int64_t pid = 0;
    std::string name;
    int64_t rss_bytes = -1;
  };
  // The children of flowps launch, by PID (launch starts them in task order).
  std::vector<Task> Tasks() const;

  LocalCluster() = default;
  std::string dir_;
  ClusterSpec spec_;
  pid_t launch_ = -1;
};

}  // namespace flowps

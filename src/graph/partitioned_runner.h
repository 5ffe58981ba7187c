// PartitionedRunner: runs every partition of a placed graph in one process --
// one Executor per device, joined by a local Rendezvous -- and returns the
// fetches. It is what two CPU devices of one task use, and the reference that
// a distributed run must agree with.
//
// The fetches and targets are fixed at creation (like a callable): the graph
// is pruned to what they need, then partitioned. Each step gets its own
// rendezvous step id; at the first error in any partition the step's
// rendezvous is aborted, so that every pending Recv (on any device) fails at
// once instead of waiting for a Send that will never come. Variable writes are committed
// per partition when that partition's step succeeds.
// Thread safety: Run may be called from several threads at once (steps are
// independent), but never from a pool thread (it blocks).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "graph/executor.h"
#include "graph/graph.h"
#include "graph/rendezvous.h"

namespace flowps {

class Device;
class ThreadPool;
class VariableStore;

class PartitionedRunner {
 public:
  // `graph` must be placed (PlaceGraph). Fetches are tensor names
  // ("node:index" or "node"), targets node names; an unknown name is
  // NotFound. `devices` maps device names to the Device their partition runs
  // on (a GpuDevice for a GPU partition); a partition without an entry runs
  // its CPU kernels. REQUIRES: pool and the devices outlive the runner.
  static StatusOr<std::unique_ptr<PartitionedRunner>> Create(const Graph& graph, std::vector<std::string> fetches,
                                                              std::vector<std::string> targets, ThreadPool* pool,
                                                              const std::map<std::string, Device*>& devices = {});

  // Feeds are (tensor name, value); each goes to the partition holding its node.
  // Every partition's step starts at once, on the shared pool: nothing
  // serializes the devices, each node runs as soon as its inputs (local, or a
  // Recv from another device) are there, so the devices of a layered model
  // pipeline (graph/device_overlap.h measures it from the trace).
  // With an active `trace`, each partition's step is a span (category
  // "partition") on the track named after its device, with its nodes as
  // children (Executor's StepOptions::trace).
  StatusOr<std::vector<Tensor>> Run(const std::vector<std::pair<std::string, Tensor>>& feeds, VariableStore* variables,
                                    const TraceContext& trace = {});

  const std::map<std::string, std::unique_ptr<Graph>>& partitions() const { return partitions_; }

 private:
  struct Part {
    std::string device;
    const Graph* graph;
    std::unique_ptr<Executor> executor;
    std::vector<Output> fetches;
    std::vector<int> fetch_slots;  // position of each fetch in the caller's list
    std::vector<Node*> targets;    // the caller's targets here, and every Send
  };
  PartitionedRunner() = default;

  std::map<std::string, std::unique_ptr<Graph>> partitions_;
  std::vector<Part> parts_;
  size_t num_fetches_ = 0;
  std::unique_ptr<Rendezvous> rendezvous_;
  std::atomic<int64_t> next_step_{0};
};

}  // namespace flowps

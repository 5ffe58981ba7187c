// Executor: runs a Graph on the compute ThreadPool, one step at a time or many
// at once.
//
// A step runs only the nodes that the fetches and targets need (an output that
// is fed cuts the graph there), starts each node when its pending count of
// inputs reaches zero, and runs ready nodes in parallel on the pool; no lock
// is held across a kernel. Async kernels (Recv) hand back a callback instead
// of blocking a pool thread. Every kernel output is checked against the
// dtype and shape the graph inferred. The first error (a kernel's, or a feed
// of the wrong dtype/shape) names the node and op and aborts the step; staged
// variable writes (Assign) are committed to the VariableStore only when the
// whole step succeeded. An aborted step starts no further kernels but waits for
// the async kernels already started to call `done` (a rendezvous should fail
// its pending Recvs when a step is abandoned).
#pragma once

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "core/trace.h"
#include "graph/graph.h"
#include "graph/op_registry.h"

namespace flowps {

class Device;
class ThreadPool;
class TensorTransfer;
class VariableStore;

using FeedList = std::vector<std::pair<Output, Tensor>>;

struct StepOptions {
  VariableStore* variables = nullptr;  // for Variable and Assign; may be null
  TensorTransfer* transfer = nullptr;  // for Send and Recv; may be null
  // Called once, at the step's first error, while other kernels may still be
  // running or waiting: a caller whose Recvs wait on other devices aborts its
  // rendezvous here, so that the step can end. Runs on the failing kernel's
  // thread with no executor lock held; it may complete pending async kernels.
  std::function<void(const Status&)> on_failure = nullptr;
  // When active, one span per node executed (name: the node, category
  // "node", detail: the op) under trace.parent, on the track
  // "<trace track's name> #k" of the pool thread that ran it (an async
  // kernel, e.g. Recv, from its start to its `done`, on "<name> async"); the
  // caller names the track after the device. Inactive: one branch per node.
  TraceContext trace = {};
};

// Thread safety: Run/RunAsync may be called from many threads at once; each
// step has its own state. REQUIRES: the graph and the pool outlive the
// executor; the graph may grow between steps, never during one.
class Executor {
 public:
  Executor(const Graph& graph, ThreadPool* pool, DeviceType device = DeviceType::kCPU);
  // Runs the kernels of `device->type()` and hands them `device` (a GPU
  // partition needs its GpuDevice). REQUIRES: device outlives the executor.
  Executor(const Graph& graph, ThreadPool* pool, Device* device);
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs one step and returns the fetched tensors, in order. Blocks the
  // caller: never call it from a pool thread (use RunAsync there).
  StatusOr<std::vector<Tensor>> Run(const FeedList& feeds, const std::vector<Output>& fetches,
                                    const std::vector<Node*>& targets = {}, const StepOptions& options = {});

  using DoneFn = std::function<void(StatusOr<std::vector<Tensor>>)>;
  // Starts one step; `done` runs once, on the thread that finished the last
  // node (or on the caller's thread if the step is refused at once).
  void RunAsync(const FeedList& feeds, const std::vector<Output>& fetches, const std::vector<Node*>& targets,
                const StepOptions& options, DoneFn done);

 private:
  struct Step;
  void RunNode(const std::shared_ptr<Step>& step, int id) const;
  // Checks and stores the outputs, readies the consumers; returns the ready ones.
  std::vector<int> FinishNode(Step& step, int id, Status s, std::vector<Tensor>* outputs) const;
  void NodeDone(const std::shared_ptr<Step>& step, int id, Status s, std::vector<Tensor>* outputs) const;
  void FinishStep(Step& step) const;

  const Graph& graph_;
  ThreadPool* pool_;
  DeviceType device_;
  Device* device_context_ = nullptr;
};

}  // namespace flowps

#include "graph/executor.h"

#include <atomic>
#include <future>
#include <mutex>

#include "core/thread_pool.h"
#include "graph/device.h"
#include "graph/variable_store.h"

namespace flowps {

// The state of one step; shared by the kernels' callbacks until the last finishes.
struct Executor::Step {
  Step(VariableStore* vars, TensorTransfer* transfer, int n)
      : services(vars, transfer),
        needed(n, 0),
        fed(n),
        consumers(n),
        pending(new std::atomic<int>[n]),
        outputs(n),
        contexts(n) {}

  StepServices services;
  std::vector<char> needed;                  // by node id: runs in this step
  std::vector<std::vector<char>> fed;        // by node id, output: fed, not computed
  std::vector<std::vector<int>> consumers;   // by node id: needed nodes waiting on it, once per edge
  std::unique_ptr<std::atomic<int>[]> pending;  // inputs not yet available
  std::vector<std::vector<Tensor>> outputs;  // written by the node, then read by consumers
  std::vector<std::unique_ptr<KernelContext>> contexts;  // kept alive for async kernels
  std::vector<Output> fetches;
  int num_needed = 0;
  std::atomic<int> outstanding{0};  // nodes scheduled or running
  std::atomic<int> finished{0};     // nodes that ran
  std::atomic<bool> aborted{false};
  std::mutex mu;
  Status status;  // guarded by mu: the first error
  DoneFn done;
  std::function<void(const Status&)> on_failure;  // StepOptions::on_failure
  TraceContext trace;                             // StepOptions::trace
  std::string trace_track;                        // the name of trace.track, when active

  void Fail(const Status& s) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!status.ok()) return;
      status = s;
      aborted = true;
    }
    if (on_failure) on_failure(s);
  }
};

namespace {
std::string Where(const Node& n) { return "node '" + n.name() + "' (op " + n.op() + ")"; }

// Records `node`'s span from start_ns to now on the track "<device track> <lane>".
void RecordNode(const TraceContext& trace, const std::string& track_prefix, bool async, const Node& node,
                int64_t start_ns) {
  TraceContext on = trace;
  on.track = async ? trace.recorder->Track(track_prefix + " async") : trace.recorder->ThreadTrack(track_prefix);
  on.Record(node.name(), "node", node.op(), start_ns);
}
}  // namespace

Executor::Executor(const Graph& graph, ThreadPool* pool, DeviceType device)
    : graph_(graph), pool_(pool), device_(device) {}

Executor::Executor(const Graph& graph, ThreadPool* pool, Device* device)
    : graph_(graph), pool_(pool), device_(device->type()), device_context_(device) {}

StatusOr<std::vector<Tensor>> Executor::Run(const FeedList& feeds, const std::vector<Output>& fetches,
                                            const std::vector<Node*>& targets, const StepOptions& options) {
  std::promise<StatusOr<std::vector<Tensor>>> result;
  RunAsync(feeds, fetches, targets, options, [&result](StatusOr<std::vector<Tensor>> r) { result.set_value(std::move(r)); });
  return result.get_future().get();
}

void Executor::RunAsync(const FeedList& feeds, const std::vector<Output>& fetches, const std::vector<Node*>& targets,
                        const StepOptions& options, DoneFn done) {
  const int n = graph_.num_nodes();
  auto step = std::make_shared<Step>(options.variables, options.transfer, n);
  step->on_failure = options.on_failure;
  step->trace = options.trace;
  if (step->trace.active()) step->trace_track = step->trace.recorder->TrackName(step->trace.track);
  auto belongs = [&](const Node* node) { return node != nullptr && node->graph() == &graph_ && node->id() < n; };

  for (const auto& [out, tensor] : feeds) {
    if (!belongs(out.node) || out.index < 0 || out.index >= out.node->num_outputs())
      return done(InvalidArgument("a feed is not an output of this graph"));
    Status s = tensor.Check(out.dtype(), out.shape(), "feed for '" + out.name() + "' (op " + out.node->op() + ")");
    if (!s.ok()) return done(s);
    auto& fed = step->fed[out.node->id()];
    fed.resize(out.node->num_outputs(), 0);
    fed[out.index] = 1;
    step->outputs[out.node->id()].resize(out.node->num_outputs());
    step->outputs[out.node->id()][out.index] = tensor;
  }
  auto is_fed = [&](const Output& o) {
    const auto& f = step->fed[o.node->id()];
    return !f.empty() && f[o.index];
  };

  // The nodes the fetches and targets need, walking inputs up to the feeds.
  std::vector<const Node*> stack;
  for (const Output& f : fetches) {
    if (!belongs(f.node) || f.index < 0 || f.index >= f.node->num_outputs())
      return done(InvalidArgument("a fetch is not an output of this graph"));
    if (!is_fed(f)) stack.push_back(f.node);
  }
  for (const Node* t : targets) {
    if (!belongs(t)) return done(InvalidArgument("a target is not a node of this graph"));
    stack.push_back(t);
  }
  while (!stack.empty()) {
    const Node* node = stack.back();
    stack.pop_back();
    if (step->needed[node->id()]) continue;
    step->needed[node->id()] = 1;
    ++step->num_needed;
    const OpDef& def = node->def();
    if (!def.kernels.count(device_) && !def.async_kernels.count(device_))
      return done(Unimplemented(Where(*node) + ": no " + DeviceTypeName(device_) + " kernel"));
    int pending = static_cast<int>(node->control_inputs().size());
    for (const Output& in : node->inputs()) {
      if (is_fed(in)) continue;
      ++pending;
      step->consumers[in.node->id()].push_back(node->id());
      stack.push_back(in.node);
    }
    for (const Node* c : node->control_inputs()) {
      step->consumers[c->id()].push_back(node->id());
      stack.push_back(c);
    }
    step->pending[node->id()].store(pending, std::memory_order_relaxed);
  }

  step->fetches = fetches;
  step->done = std::move(done);
  std::vector<int> ready;
  for (int id = 0; id < n; ++id)
    if (step->needed[id] && step->pending[id].load(std::memory_order_relaxed) == 0) ready.push_back(id);
  if (step->num_needed == 0) return FinishStep(*step);
  if (ready.empty()) return step->done(InvalidArgument("the graph has a cycle: no node can start"));
  step->outstanding = static_cast<int>(ready.size());
  for (int id : ready) pool_->Schedule([this, step, id] { RunNode(step, id); });
}

void Executor::RunNode(const std::shared_ptr<Step>& step, int id) const {
  for (;;) {
    const Node& node = *graph_.nodes()[id];
    if (step->aborted) {
      NodeDone(step, id, Status::OK(), nullptr);
      return;
    }
    std::vector<Tensor> inputs;
    inputs.reserve(node.num_inputs());
    for (const Output& in : node.inputs()) inputs.push_back(step->outputs[in.node->id()][in.index]);
    auto ctx = std::make_unique<KernelContext>(node, std::move(inputs), &step->services, pool_, device_context_);
    const OpDef& def = node.def();
    const int64_t start_ns = step->trace.active() ? TraceRecorder::NowNs() : 0;
    if (auto async = def.async_kernels.find(device_); async != def.async_kernels.end()) {
      KernelContext* raw = ctx.get();
      step->contexts[id] = std::move(ctx);
      async->second(*raw, [this, step, id, raw, start_ns](Status s) {
        if (step->trace.active()) RecordNode(step->trace, step->trace_track, true, *graph_.nodes()[id], start_ns);
        NodeDone(step, id, std::move(s), &raw->outputs());
      });
      return;
    }
    Status s;
    try {
      s = def.kernels.at(device_)(*ctx);
    } catch (const std::exception& e) {
      s = Internal(std::string("kernel threw: ") + e.what());
    }
    if (step->trace.active()) RecordNode(step->trace, step->trace_track, false, node, start_ns);
    std::vector<int> ready = FinishNode(*step, id, std::move(s), &ctx->outputs());
    if (ready.empty()) return;
    // Run one ready consumer on this thread, hand the others to the pool.
    for (size_t i = 1; i < ready.size(); ++i) {
      int next = ready[i];
      pool_->Schedule([this, step, next] { RunNode(step, next); });
    }
    id = ready[0];
  }
}

void Executor::NodeDone(const std::shared_ptr<Step>& step, int id, Status s, std::vector<Tensor>* outputs) const {
  std::vector<int> ready = FinishNode(*step, id, std::move(s), outputs);
  for (int next : ready) pool_->Schedule([this, step, next] { RunNode(step, next); });
}

std::vector<int> Executor::FinishNode(Step& step, int id, Status s, std::vector<Tensor>* outputs) const {
  const Node& node = *graph_.nodes()[id];
  std::vector<int> ready;
  if (outputs != nullptr && s.ok()) {
    if (static_cast<int>(outputs->size()) != node.num_outputs()) s = Internal("wrong number of outputs");
    for (int i = 0; s.ok() && i < node.num_outputs(); ++i)
      s = (*outputs)[i].Check(node.output_dtype(i), node.output_shape(i), "output " + std::to_string(i));
  }
  if (!s.ok()) {
    step.Fail(s.WithContext(Where(node)));
  } else if (outputs != nullptr && !step.aborted) {
    ++step.finished;
    auto& slot = step.outputs[id];
    const auto& fed = step.fed[id];
    slot.resize(node.num_outputs());
    for (int i = 0; i < node.num_outputs(); ++i)
      if (fed.empty() || !fed[i]) slot[i] = std::move((*outputs)[i]);
    for (int consumer : step.consumers[id])
      if (step.pending[consumer].fetch_sub(1, std::memory_order_acq_rel) == 1) ready.push_back(consumer);
  }
  step.outstanding += static_cast<int>(ready.size());
  if (step.outstanding.fetch_sub(1) == 1) FinishStep(step);
  return ready;
}

void Executor::FinishStep(Step& step) const {
  Status s;
  {
    std::lock_guard<std::mutex> lock(step.mu);
    s = step.status;
  }
  if (s.ok() && step.finished != step.num_needed) s = Internal("the graph has a cycle: not every needed node ran");
  if (s.ok()) s = step.services.CommitStaged();
  if (!s.ok()) return step.done(s);
  std::vector<Tensor> out;
  out.reserve(step.fetches.size());
  for (const Output& f : step.fetches) out.push_back(step.outputs[f.node->id()][f.index]);
  step.done(std::move(out));
}

}  // namespace flowps

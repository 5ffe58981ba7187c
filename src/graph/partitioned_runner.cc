#include "graph/partitioned_runner.h"

#include <condition_variable>
#include <mutex>

#include "graph/partition.h"
#include "graph/variable_store.h"

namespace flowps {
namespace {

// Splits "node:index" into its node name.
std::string NodeNameOf(const std::string& tensor) {
  auto colon = tensor.rfind(':');
  return colon == std::string::npos ? tensor : tensor.substr(0, colon);
}

}  // namespace

StatusOr<std::unique_ptr<PartitionedRunner>> PartitionedRunner::Create(const Graph& graph,
                                                                       std::vector<std::string> fetches,
                                                                       std::vector<std::string> targets,
                                                                       ThreadPool* pool,
                                                                       const std::map<std::string, Device*>& devices) {
  std::vector<Node*> roots;
  for (const std::string& f : fetches) {
    FLOWPS_ASSIGN_OR_RETURN(Output o, graph.FindOutput(f));
    roots.push_back(o.node);
  }
  for (const std::string& t : targets) {
    Node* n = graph.FindNode(t);
    if (n == nullptr) return NotFound("no target node named '" + t + "'");
    roots.push_back(n);
  }
  std::unique_ptr<PartitionedRunner> runner(new PartitionedRunner());
  FLOWPS_ASSIGN_OR_RETURN(runner->partitions_, PartitionGraph(graph, roots));
  runner->num_fetches_ = fetches.size();
  runner->rendezvous_ = NewLocalRendezvous();
  for (const auto& [device, part_graph] : runner->partitions_) {
    Part part;
    part.device = device;
    part.graph = part_graph.get();
    for (size_t i = 0; i < fetches.size(); ++i) {
      if (part_graph->FindNode(NodeNameOf(fetches[i])) == nullptr) continue;
      FLOWPS_ASSIGN_OR_RETURN(Output o, part_graph->FindOutput(fetches[i]));
      part.fetches.push_back(o);
      part.fetch_slots.push_back(static_cast<int>(i));
    }
    for (const std::string& t : targets)
      if (Node* n = part_graph->FindNode(t)) part.targets.push_back(n);
    for (const auto& n : part_graph->nodes())
      if (n->op() == "Send") part.targets.push_back(n.get());
    auto on = devices.find(device);
    part.executor = on == devices.end() ? std::make_unique<Executor>(*part_graph, pool)
                                        : std::make_unique<Executor>(*part_graph, pool, on->second);
    runner->parts_.push_back(std::move(part));
  }
  return runner;
}

StatusOr<std::vector<Tensor>> PartitionedRunner::Run(const std::vector<std::pair<std::string, Tensor>>& feeds,
                                                     VariableStore* variables, const TraceContext& trace) {
  const int64_t step = next_step_++;
  std::vector<FeedList> part_feeds(parts_.size());
  for (const auto& [name, value] : feeds) {
    bool found = false;
    for (size_t p = 0; p < parts_.size() && !found; ++p) {
      if (parts_[p].graph->FindNode(NodeNameOf(name)) == nullptr) continue;
      FLOWPS_ASSIGN_OR_RETURN(Output o, parts_[p].graph->FindOutput(name));
      part_feeds[p].push_back({o, value});
      found = true;
    }
    if (!found) return NotFound("feed '" + name + "' names no node that the fetches need");
  }

  std::mutex mu;
  std::condition_variable all_done;
  size_t pending = parts_.size();
  Status first_error;
  std::vector<Tensor> results(num_fetches_);
  std::vector<std::unique_ptr<RendezvousTransfer>> transfers;
  for (size_t p = 0; p < parts_.size(); ++p) transfers.push_back(std::make_unique<RendezvousTransfer>(rendezvous_.get(), step));
  for (size_t p = 0; p < parts_.size(); ++p) {
    const Part& part = parts_[p];
    StepOptions step_options{variables, transfers[p].get(),
                             [this, step](const Status& s) { rendezvous_->Abort(step, s); }};
    TraceContext part_trace;
    uint64_t span_id = 0;
    const int64_t start_ns = trace.active() ? TraceRecorder::NowNs() : 0;
    if (trace.active()) {
      part_trace = trace.OnTrack(part.device);
      span_id = trace.recorder->NewId();
      step_options.trace = part_trace.WithParent(span_id);
    }
    part.executor->RunAsync(part_feeds[p], part.fetches, part.targets, step_options,
                            [&, p, part_trace, span_id, start_ns](StatusOr<std::vector<Tensor>> out) {
                              if (part_trace.active())
                                part_trace.Record(parts_[p].device, "partition", "", start_ns, span_id);
                              if (!out.ok()) rendezvous_->Abort(step, out.status());
                              std::lock_guard<std::mutex> lock(mu);
                              if (out.ok()) {
                                for (size_t i = 0; i < parts_[p].fetch_slots.size(); ++i)
                                  results[parts_[p].fetch_slots[i]] = (*out)[i];
                              } else if (first_error.ok()) {
                                first_error = out.status();
                              }
                              if (--pending == 0) all_done.notify_all();
                            });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    all_done.wait(lock, [&] { return pending == 0; });
  }
  rendezvous_->EndStep(step);
  if (!first_error.ok()) return first_error;
  return results;
}

}  // namespace flowps

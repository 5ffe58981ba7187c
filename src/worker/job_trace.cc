#include "worker/job_trace.h"

#include <filesystem>
#include <fstream>

#include <kj/debug.h>
#include <kj/vector.h>
#include <spdlog/logger.h>

#include "net/rpc_client.h"
#include "net/trace_service.h"

namespace flowps {

JobTrace::JobTrace(kj::AsyncIoContext& io, const ClusterSpec& spec, int self_worker, TraceRecorder* self,
                   std::string path, spdlog::logger* log)
    : io_(io), self_(self), path_(std::move(path)), log_(log) {
  const TaskSpec& me = spec.workers[static_cast<size_t>(self_worker)];
  self_slot_ = TraceSlot(spec, me);
  std::vector<const TaskSpec*> tasks;
  for (const TaskSpec& t : spec.ps) tasks.push_back(&t);
  for (const TaskSpec& t : spec.workers) tasks.push_back(&t);
  sources_.resize(tasks.size());
  clock_known_.assign(tasks.size(), false);
  for (const TaskSpec* t : tasks) {
    const int slot = TraceSlot(spec, *t);
    std::string name = t->job + ":" + std::to_string(t->index);
    if (slot == self_slot_) name += " (chief)";
    sources_[static_cast<size_t>(slot)].process_name = name;
    sources_[static_cast<size_t>(slot)].pid = slot;
    if (slot == self_slot_) {
      clock_known_[static_cast<size_t>(slot)] = true;  // its own clock: offset 0
      continue;
    }
    RpcClientOptions o;
    o.address = t->address();
    o.token = spec.token;
    remotes_.push_back(Remote{slot, name, std::make_unique<RpcClient>(io_, o)});
  }
}

JobTrace::~JobTrace() = default;

size_t JobTrace::spans() const {
  size_t n = 0;
  for (const TraceSource& s : sources_) n += s.trace.spans.size();
  return n;
}

void JobTrace::Merge(int slot, ClockOffset clock, TaskTrace taken) {
  TraceSource& src = sources_[static_cast<size_t>(slot)];
  // The better estimate of the task's clock serves every span of it.
  if (!clock_known_[static_cast<size_t>(slot)] || clock.error_ns < src.clock.error_ns) src.clock = clock;
  clock_known_[static_cast<size_t>(slot)] = true;
  // Track indices are the task's; its recorder only ever adds tracks, so the newest list names every span.
  src.trace.tracks = std::move(taken.tracks);
  for (TraceSpan& s : taken.spans) src.trace.spans.push_back(std::move(s));
  src.trace.dropped += taken.dropped;
}

void JobTrace::DropEarlierSpans() {
  kj::Vector<kj::Promise<void>> calls;
  for (Remote& r : remotes_)
    calls.add(CollectTaskTrace(*r.client, 1).ignoreResult().catch_([](kj::Exception&&) {}));
  self_->Take();
  kj::joinPromises(calls.releaseAsArray()).wait(io_.waitScope);
}

Status JobTrace::Collect() {
  kj::Vector<kj::Promise<void>> calls;
  for (Remote& r : remotes_) {
    calls.add(CollectTaskTrace(*r.client)
                  .then([this, slot = r.slot](CollectedTrace got) { Merge(slot, got.clock, std::move(got.trace)); },
                        [this, name = r.name](kj::Exception&& e) {
                          log_->warn("trace: no spans from {} this time: {}", name, e.getDescription().cStr());
                        }));
  }
  Merge(self_slot_, ClockOffset{}, self_->Take());
  kj::joinPromises(calls.releaseAsArray()).wait(io_.waitScope);

  std::vector<TraceSource> known;
  for (size_t slot = 0; slot < sources_.size(); ++slot)
    if (clock_known_[slot]) known.push_back(sources_[slot]);
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << ChromeTraceJson(known);
    if (!out.flush()) return Unavailable("cannot write the job's trace " + tmp);
  }
  std::filesystem::rename(tmp, path_, ec);
  if (ec) return Unavailable("cannot write the job's trace " + path_ + ": " + ec.message());
  return Status::OK();
}

}  // namespace flowps

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

void JobTrace::Merge(int slot, ClockOffset clock, TaskTrace taken, Round& round) {
  TraceSource& src = sources_[static_cast<size_t>(slot)];
  // The better estimate of the task's clock serves every span of it.
  if (!clock_known_[static_cast<size_t>(slot)] || clock.error_ns < src.clock.error_ns) src.clock = clock;
  clock_known_[static_cast<size_t>(slot)] = true;
  round.in_flight += taken.in_flight;
  round.new_spans += taken.spans.size();
  if (taken.in_flight > 0) round.busy.push_back(src.process_name);
  // Track indices are the task's; its recorder only ever adds tracks, so the newest list names every span.
  src.trace.tracks = std::move(taken.tracks);
  for (TraceSpan& s : taken.spans) src.trace.spans.push_back(std::move(s));
  src.trace.dropped += taken.dropped;
  src.trace.in_flight = taken.in_flight;  // as of this round: what the file lacks
}

void JobTrace::DropEarlierSpans() {
  kj::Vector<kj::Promise<void>> calls;
  for (Remote& r : remotes_)
    calls.add(CollectTaskTrace(*r.client, 1).ignoreResult().catch_([](kj::Exception&&) {}));
  self_->Take();
  kj::joinPromises(calls.releaseAsArray()).wait(io_.waitScope);
}

JobTrace::Round JobTrace::CollectRound() {
  Round round;
  kj::Vector<kj::Promise<void>> calls;
  for (Remote& r : remotes_) {
    calls.add(CollectTaskTrace(*r.client)
                  .then([this, &round, slot = r.slot](
                            CollectedTrace got) { Merge(slot, got.clock, std::move(got.trace), round); },
                        [this, name = r.name](kj::Exception&& e) {
                          log_->warn("trace: no spans from {} this time: {}", name, e.getDescription().cStr());
                        }));
  }
  Merge(self_slot_, ClockOffset{}, self_->Take(), round);
  kj::joinPromises(calls.releaseAsArray()).wait(io_.waitScope);
  return round;
}

Status JobTrace::Collect(std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  Round round = CollectRound();
  // Two rounds in a row with nothing in flight, the second bringing nothing
  // new: a span begun on one task because of another's (a shard's call under
  // a worker's RPC) began before the second round reached it.
  bool quiet_before = false;
  while (wait.count() > 0) {
    const bool quiet = round.in_flight == 0;
    if (quiet && quiet_before && round.new_spans == 0) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      if (!quiet) {
        std::string busy;
        for (const std::string& name : round.busy) busy += (busy.empty() ? "" : ", ") + name;
        log_->warn("trace: spans still in flight on {} after {} ms; the trace lacks them", busy, wait.count());
      }
      break;
    }
    if (!quiet) io_.provider->getTimer().afterDelay(50 * kj::MILLISECONDS).wait(io_.waitScope);
    quiet_before = quiet;
    round = CollectRound();
  }
  return Write();
}

Status JobTrace::Write() const {
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

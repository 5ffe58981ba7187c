// JobTrace: the chief's side of `flowps submit --trace N`. It takes the spans
// every task of the job recorded -- its own recorder directly, every ps and
// every other worker through their "trace" service (net/trace_service.h),
// with each task's clock offset estimated from the least round trip of a few
// pings -- and writes them as one Chrome trace-event JSON file
// (core/chrome_trace.h): one process per task ("ps:0", "worker:1", the chief
// marked), one thread per track.
//
// Collect() may run several times (e.g. once the traced steps are past, and
// at the end of the job, for a worker that lagged): each adds what the tasks
// recorded since, and rewrites the file with everything so far. A span that
// ends after one collection (a shard's apply, another worker's push still in
// flight) is in the next. The last one waits, bounded, for the spans still in
// flight (TraceRecorder counts them), so that nothing begun is left out.
//
// Threads: belongs to the thread of `io`'s event loop (the job thread).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <kj/async-io.h>

#include "core/chrome_trace.h"
#include "core/cluster_spec.h"
#include "core/status.h"
#include "core/trace.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace flowps {

class RpcClient;

// How long the chief's last collection of a job waits for spans in flight
// (a worker's step, a shard's call): a task that hangs cannot hold the job's end longer.
inline constexpr std::chrono::milliseconds kTraceInFlightWait{10000};

class JobTrace {
 public:
  // `self_worker`: the chief's index among the workers; `self`: its recorder.
  // REQUIRES: io, self and log outlive the JobTrace.
  JobTrace(kj::AsyncIoContext& io, const ClusterSpec& spec, int self_worker, TraceRecorder* self, std::string path,
           spdlog::logger* log);
  ~JobTrace();
  JobTrace(const JobTrace&) = delete;
  JobTrace& operator=(const JobTrace&) = delete;

  // Drops what every task holds (spans of an earlier job that was never
  // collected); call before the job's traced steps start. A task that does
  // not answer is skipped.
  void DropEarlierSpans();
  // Collects from every task (one that does not answer is logged and left
  // out this time) and rewrites the file. With `wait` > 0 it collects again
  // (every 50 ms while a task has spans in flight) until a round finds no
  // span in flight on any task and a further round brings no new span -- then
  // every span begun before the first of the two is in the file -- or until
  // `wait` has passed: the tasks still busy are logged and their late spans
  // are missing (or in a later Collect). Never waits longer than `wait` plus
  // a round. An error: the file could not be written.
  Status Collect(std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  const std::string& path() const { return path_; }
  // Spans in the file so far.
  size_t spans() const;

 private:
  struct Remote {
    int slot;
    std::string name;
    std::unique_ptr<RpcClient> client;
  };
  // What one round of collection found.
  struct Round {
    int64_t in_flight = 0;            // over every task that answered
    size_t new_spans = 0;
    std::vector<std::string> busy;   // the tasks with spans in flight
  };
  Round CollectRound();
  void Merge(int slot, ClockOffset clock, TaskTrace taken, Round& round);
  Status Write() const;

  kj::AsyncIoContext& io_;
  TraceRecorder* self_;
  int self_slot_;
  std::string path_;
  spdlog::logger* log_;
  std::vector<Remote> remotes_;
  std::vector<TraceSource> sources_;  // by slot
  std::vector<bool> clock_known_;     // by slot
};

}  // namespace flowps

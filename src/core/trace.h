// TraceRecorder: the spans of one task's work -- an executor's nodes, RPCs, a
// training step's phases, a shard's aggregation and apply -- kept in memory
// until the chief collects them for the job's Chrome trace
// (`flowps submit --trace N`, core/chrome_trace.h).
//
// A span is a named interval of the steady clock (ns, this process) on a
// track (a thread of work or a device: "step", "rpc", "/job:worker/task:0/device:cpu:1"),
// with an id unique in the job (the recorder's id base) and the id of its
// parent span (0: a root; a ps span's parent may be a worker's RPC span).
//
// Cost when not recording: code that may record holds a TraceContext, whose
// recorder is null when it is off; every hook is one branch on that pointer
// (TraceScope does nothing else, and copies no string, when it is off).
// Recording takes the recorder's mutex once per span.
//
// Memory is bounded: beyond `max_spans` held, spans are dropped and counted.
//
// Spans in flight: a recorder counts the spans begun and not yet recorded (an
// open TraceScope) and the holds of work that will record more (a TraceHold:
// a training loop before its last traced step), so that a collector can tell
// "nothing more is coming" from "the rest is late" (JobTrace waits, bounded).
//
// Thread safety: every member of TraceRecorder may be called from any thread
// at any time. TraceContext and TraceScope are values of the thread using them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <unordered_map>
#include <vector>

namespace flowps {

struct TraceSpan {
  std::string name;      // "MatMul_3", "pushPull", "apply"
  std::string category;  // what kind: "node", "rpc", "step", "ps"
  std::string detail;    // optional: the op of a node, the shard of an RPC
  int32_t track = 0;     // index into the recorder's tracks
  int64_t start_ns = 0;  // TraceRecorder::NowNs() of this process
  int64_t end_ns = 0;
  uint64_t id = 0;
  uint64_t parent = 0;  // 0: a root span
  int64_t step = -1;    // the training step it belongs to; -1: none
};

// What a task hands over when collected: its spans and the names of their tracks.
struct TaskTrace {
  std::vector<std::string> tracks;
  std::vector<TraceSpan> spans;
  uint64_t dropped = 0;  // spans not kept since the last collection (over max_spans)
  int64_t in_flight = 0;  // when taken: spans begun and not yet recorded, and holds (more will come)
};

class TraceRecorder {
 public:
  // `id_base` makes the ids of this task's spans unique in the job (see
  // SpanIdBase); ids are id_base + 1, + 2, ...
  explicit TraceRecorder(uint64_t id_base, size_t max_spans = 1 << 20);
  TraceRecorder(const TraceRecorder&) = delete;
  TraceRecorder& operator=(const TraceRecorder&) = delete;

  // The index of the track named `name`, added at first use.
  int32_t Track(const std::string& name);
  // The track "`prefix` #k", where k numbers the threads that asked for a
  // track of this prefix: the spans of one thread nest, so a device's kernels
  // running on several pool threads at once get one track per thread.
  int32_t ThreadTrack(const std::string& prefix);
  // The name of track `track` ("" if there is none).
  std::string TrackName(int32_t track);
  uint64_t NewId();
  // Keeps `span` (dropped and counted when max_spans are held).
  void Record(TraceSpan span);
  // The spans recorded since the last Take, every track and the spans in
  // flight now; the spans are removed. A span is recorded before it stops
  // counting as in flight, so a Take that sees 0 in flight has every span
  // begun before it.
  TaskTrace Take();
  // Spans in flight (see the file comment): TraceScope and TraceHold count
  // themselves; BeginInFlight/EndInFlight pair up.
  void BeginInFlight() { in_flight_.fetch_add(1, std::memory_order_acq_rel); }
  void EndInFlight() { in_flight_.fetch_sub(1, std::memory_order_acq_rel); }
  int64_t in_flight() const { return in_flight_.load(std::memory_order_acquire); }

  // The steady clock in ns: the time base of every span.
  static int64_t NowNs();

 private:
  const uint64_t id_base_;
  const size_t max_spans_;
  std::atomic<uint64_t> next_id_{0};
  std::atomic<int64_t> in_flight_{0};
  std::mutex mu_;  // guards all below
  std::vector<std::string> tracks_;
  std::unordered_map<std::string, int32_t> track_index_;
  std::map<std::pair<std::string, std::thread::id>, int32_t> thread_tracks_;
  std::unordered_map<std::string, int> lanes_;  // by prefix: threads seen
  std::vector<TraceSpan> spans_;
  uint64_t dropped_ = 0;
};

// An id base that keeps every task's span ids apart and below 2^53 (JSON
// numbers): `slot` numbers the tasks of a job (e.g. ps k -> k, worker i ->
// num_ps + i), at most 4095.
uint64_t SpanIdBase(int slot);

// Where a piece of code records its spans: a recorder (null: not recording),
// the track, the parent span and the step. A value, passed down by the code
// that decides to record (the training loop for the steps it traces).
struct TraceContext {
  TraceRecorder* recorder = nullptr;
  int32_t track = 0;
  uint64_t parent = 0;
  int64_t step = -1;

  bool active() const { return recorder != nullptr; }
  TraceContext WithParent(uint64_t parent_id) const {
    TraceContext c = *this;
    c.parent = parent_id;
    return c;
  }
  TraceContext OnTrack(const std::string& track_name) const;
  // Records a span from `start_ns` to now with a new id (or `id` when given).
  // REQUIRES: active().
  void Record(std::string_view name, const char* category, std::string_view detail, int64_t start_ns,
              uint64_t id = 0) const;
  // The same from `start_ns` to `end_ns` (work timed elsewhere, e.g. on the input thread).
  void RecordInterval(std::string_view name, const char* category, std::string_view detail, int64_t start_ns,
                      int64_t end_ns) const;
};

// Counts as a span in flight on `recorder` from its construction to its
// Release() or destruction: held by work that will record spans later, so
// that a collector waits for them. Null recorder: holds nothing. Move-only.
class TraceHold {
 public:
  TraceHold() = default;
  explicit TraceHold(TraceRecorder* recorder) : recorder_(recorder) {
    if (recorder_ != nullptr) recorder_->BeginInFlight();
  }
  ~TraceHold() { Release(); }
  TraceHold(TraceHold&& other) noexcept : recorder_(other.recorder_) { other.recorder_ = nullptr; }
  TraceHold& operator=(TraceHold&& other) noexcept {
    if (this != &other) {
      Release();
      recorder_ = other.recorder_;
      other.recorder_ = nullptr;
    }
    return *this;
  }
  void Release() {
    if (recorder_ != nullptr) recorder_->EndInFlight();
    recorder_ = nullptr;
  }

 private:
  TraceRecorder* recorder_ = nullptr;
};

// Records one span from its construction to its destruction (or End()) when
// the context is active (counted in flight meanwhile); otherwise does nothing.
class TraceScope {
 public:
  TraceScope(const TraceContext& context, std::string_view name, const char* category,
             std::string_view detail = {});
  ~TraceScope() { End(); }
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

  // Records the span now (once); later calls do nothing.
  void End();
  // A context whose spans are this span's children (inactive if this one is).
  TraceContext child() const { return context_.WithParent(id_); }
  uint64_t id() const { return id_; }

 private:
  TraceContext context_;
  uint64_t id_ = 0;
  int64_t start_ns_ = 0;
  std::string name_;
  std::string detail_;
  const char* category_;
  bool ended_ = false;
};

}  // namespace flowps

#include "core/trace.h"

#include <chrono>

namespace flowps {

TraceRecorder::TraceRecorder(uint64_t id_base, size_t max_spans) : id_base_(id_base), max_spans_(max_spans) {}

int32_t TraceRecorder::Track(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, added] = track_index_.try_emplace(name, static_cast<int32_t>(tracks_.size()));
  if (added) tracks_.push_back(name);
  return it->second;
}

int32_t TraceRecorder::ThreadTrack(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  auto key = std::make_pair(prefix, std::this_thread::get_id());
  if (auto it = thread_tracks_.find(key); it != thread_tracks_.end()) return it->second;
  std::string name = prefix + " #" + std::to_string(lanes_[prefix]++);
  auto [it, added] = track_index_.try_emplace(name, static_cast<int32_t>(tracks_.size()));
  if (added) tracks_.push_back(name);
  thread_tracks_.emplace(std::move(key), it->second);
  return it->second;
}

std::string TraceRecorder::TrackName(int32_t track) {
  std::lock_guard<std::mutex> lock(mu_);
  return track >= 0 && static_cast<size_t>(track) < tracks_.size() ? tracks_[track] : std::string();
}

uint64_t TraceRecorder::NewId() { return id_base_ + next_id_.fetch_add(1, std::memory_order_relaxed) + 1; }

void TraceRecorder::Record(TraceSpan span) {
  std::lock_guard<std::mutex> lock(mu_);
  if (spans_.size() >= max_spans_) {
    ++dropped_;
    return;
  }
  spans_.push_back(std::move(span));
}

TaskTrace TraceRecorder::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  TaskTrace out;
  out.tracks = tracks_;
  out.spans.swap(spans_);
  out.dropped = dropped_;
  dropped_ = 0;
  out.in_flight = in_flight_.load(std::memory_order_acquire);
  return out;
}

int64_t TraceRecorder::NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t SpanIdBase(int slot) { return (static_cast<uint64_t>(slot) + 1) << 40; }

TraceContext TraceContext::OnTrack(const std::string& track_name) const {
  TraceContext c = *this;
  if (recorder != nullptr) c.track = recorder->Track(track_name);
  return c;
}

namespace {
// Records the span `id` of `c` from start_ns to end_ns.
void RecordSpan(const TraceContext& c, uint64_t id, std::string_view name, const char* category,
                std::string_view detail, int64_t start_ns, int64_t end_ns) {
  TraceSpan span;
  span.name = name;
  span.category = category;
  span.detail = detail;
  span.track = c.track;
  span.start_ns = start_ns;
  span.end_ns = end_ns;
  span.id = id;
  span.parent = c.parent;
  span.step = c.step;
  c.recorder->Record(std::move(span));
}
}  // namespace

void TraceContext::Record(std::string_view name, const char* category, std::string_view detail, int64_t start_ns,
                          uint64_t id) const {
  RecordSpan(*this, id != 0 ? id : recorder->NewId(), name, category, detail, start_ns, TraceRecorder::NowNs());
}

void TraceContext::RecordInterval(std::string_view name, const char* category, std::string_view detail,
                                  int64_t start_ns, int64_t end_ns) const {
  RecordSpan(*this, recorder->NewId(), name, category, detail, start_ns, end_ns);
}

TraceScope::TraceScope(const TraceContext& context, std::string_view name, const char* category,
                       std::string_view detail)
    : context_(context), category_(category) {
  if (!context_.active()) return;
  context_.recorder->BeginInFlight();
  id_ = context_.recorder->NewId();
  name_ = name;
  detail_ = detail;
  start_ns_ = TraceRecorder::NowNs();
}

void TraceScope::End() {
  if (!context_.active() || ended_) return;
  ended_ = true;
  context_.Record(name_, category_, detail_, start_ns_, id_);
  context_.recorder->EndInFlight();  // after the span is held: a Take sees it or counts it
}

}  // namespace flowps

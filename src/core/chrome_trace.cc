#include "core/chrome_trace.h"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "core/json_line.h"

namespace flowps {

ClockOffset EstimateClockOffset(const std::vector<ClockSample>& samples) {
  const ClockSample* best = &samples.front();
  for (const ClockSample& s : samples)
    if (s.recv_ns - s.send_ns < best->recv_ns - best->send_ns) best = &s;
  const int64_t rtt = best->recv_ns - best->send_ns;
  return {best->remote_ns - (best->send_ns + rtt / 2), (rtt + 1) / 2};
}

namespace {

// ns as microseconds with three decimals (JsonLine's %g would round large times).
std::string Micros(int64_t ns) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ns) / 1e3);
  return buf;
}

std::string MetadataEvent(const char* name, int pid, int tid, const std::string& value) {
  return JsonLine()
      .Add("name", name)
      .Add("ph", "M")
      .Add("pid", int64_t{pid})
      .Add("tid", int64_t{tid})
      .AddRaw("args", JsonLine().Add("name", value).str())
      .str();
}

std::string SpanEvent(const TraceSpan& span, int pid, int64_t start_ns) {
  JsonLine args;
  args.Add("id", static_cast<int64_t>(span.id)).Add("parent", static_cast<int64_t>(span.parent));
  if (span.step >= 0) args.Add("step", span.step);
  if (!span.detail.empty()) args.Add("detail", span.detail);
  return JsonLine()
      .Add("name", span.name)
      .Add("cat", span.category)
      .Add("ph", "X")
      .AddRaw("ts", Micros(start_ns))
      .AddRaw("dur", Micros(span.end_ns - span.start_ns))
      .Add("pid", int64_t{pid})
      .Add("tid", int64_t{span.track})
      .AddRaw("args", args.str())
      .str();
}

}  // namespace

std::string ChromeTraceJson(const std::vector<TraceSource>& sources) {
  // Aligned time: a span's own clock minus its task's offset.
  int64_t origin = std::numeric_limits<int64_t>::max();
  for (const TraceSource& src : sources)
    for (const TraceSpan& span : src.trace.spans) origin = std::min(origin, span.start_ns - src.clock.offset_ns);
  std::string out = "{\"traceEvents\":[\n";
  bool first = true;
  auto add = [&](const std::string& event) {
    if (!first) out += ",\n";
    first = false;
    out += event;
  };
  JsonLine tasks;
  for (const TraceSource& src : sources) {
    add(MetadataEvent("process_name", src.pid, 0, src.process_name));
    add(JsonLine()
            .Add("name", "process_sort_index")
            .Add("ph", "M")
            .Add("pid", int64_t{src.pid})
            .AddRaw("args", JsonLine().Add("sort_index", int64_t{src.pid}).str())
            .str());
    for (size_t t = 0; t < src.trace.tracks.size(); ++t)
      add(MetadataEvent("thread_name", src.pid, static_cast<int>(t), src.trace.tracks[t]));
    for (const TraceSpan& span : src.trace.spans) add(SpanEvent(span, src.pid, span.start_ns - src.clock.offset_ns - origin));
    tasks.AddRaw(src.process_name, JsonLine()
                                       .Add("pid", int64_t{src.pid})
                                       .Add("clock_offset_us", static_cast<double>(src.clock.offset_ns) / 1e3)
                                       .Add("clock_error_us", static_cast<double>(src.clock.error_ns) / 1e3)
                                       .Add("spans", static_cast<int64_t>(src.trace.spans.size()))
                                       .Add("dropped", static_cast<int64_t>(src.trace.dropped))
                                       .Add("in_flight", src.trace.in_flight)
                                       .str());
  }
  out += "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"tasks\":" + tasks.str() + "}}\n";
  return out;
}

}  // namespace flowps

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <set>
#include <thread>

#include "core/chrome_trace.h"
#include "core/trace.h"

using namespace flowps;

TEST_CASE("an inactive trace context records nothing") {
  TraceRecorder recorder(SpanIdBase(0));
  TraceContext off;
  {
    TraceScope scope(off, "step", "step");
    CHECK(scope.id() == 0);
    CHECK_FALSE(scope.child().active());
  }
  CHECK(recorder.Take().spans.empty());
}

TEST_CASE("a scope records its span with its parent, track and step, and children point at it") {
  TraceRecorder recorder(SpanIdBase(3));
  TraceContext ctx{&recorder, 0, 0, 7};
  ctx = ctx.OnTrack("step");
  uint64_t outer_id = 0;
  {
    TraceScope outer(ctx, "step", "step");
    outer_id = outer.id();
    TraceScope inner(outer.child().OnTrack("rpc"), "pushPull", "rpc", "ps:0");
  }
  TaskTrace t = recorder.Take();
  REQUIRE(t.spans.size() == 2);
  REQUIRE(t.tracks == std::vector<std::string>{"step", "rpc"});
  const TraceSpan& inner = t.spans[0];  // ends first
  const TraceSpan& outer = t.spans[1];
  CHECK(outer.id == outer_id);
  CHECK(outer.id > SpanIdBase(3));
  CHECK(outer.id < SpanIdBase(4));
  CHECK(outer.parent == 0);
  CHECK(inner.parent == outer.id);
  CHECK(inner.track == 1);
  CHECK(inner.detail == "ps:0");
  CHECK(inner.step == 7);
  CHECK(outer.start_ns <= inner.start_ns);
  CHECK(inner.end_ns <= outer.end_ns);
  CHECK(recorder.Take().spans.empty());  // taken once
}

TEST_CASE("a recorder keeps at most max_spans and counts the spans it dropped") {
  TraceRecorder recorder(SpanIdBase(0), 3);
  TraceContext ctx{&recorder};
  for (int i = 0; i < 5; ++i) TraceScope(TraceContext{}, "node", "node").End();  // inactive: not counted
  for (int i = 0; i < 5; ++i) TraceScope(ctx, "node", "node").End();
  TaskTrace t = recorder.Take();
  CHECK(t.spans.size() == 3);
  CHECK(t.dropped == 2);
  TraceScope(ctx, "node", "node").End();
  t = recorder.Take();
  CHECK(t.spans.size() == 1);
  CHECK(t.dropped == 0);
}

TEST_CASE("a collector sees an open scope and a hold as spans in flight until the span is recorded") {
  TraceRecorder recorder(SpanIdBase(0));
  TraceContext ctx{&recorder};
  TraceHold more_to_come(&recorder);  // e.g. a training loop before its traced steps
  auto open = std::make_unique<TraceScope>(ctx, "apply", "ps");
  TraceScope(TraceContext{}, "off", "node").End();  // inactive: not in flight
  TaskTrace t = recorder.Take();
  CHECK(t.spans.empty());
  CHECK(t.in_flight == 2);
  open.reset();  // recorded
  t = recorder.Take();
  REQUIRE(t.spans.size() == 1);
  CHECK(t.spans[0].name == "apply");
  CHECK(t.in_flight == 1);
  TraceHold moved = std::move(more_to_come);
  CHECK(recorder.in_flight() == 1);  // a moved hold counts once
  moved.Release();
  moved.Release();
  CHECK(recorder.Take().in_flight == 0);
}

TEST_CASE("a span timed elsewhere is recorded with its own start and end") {
  TraceRecorder recorder(SpanIdBase(0));
  TraceContext{&recorder, 0, 0, 4}.OnTrack("input").RecordInterval("input", "step", "", 100, 250);
  TaskTrace t = recorder.Take();
  REQUIRE(t.spans.size() == 1);
  CHECK(t.spans[0].start_ns == 100);
  CHECK(t.spans[0].end_ns == 250);
  CHECK(t.spans[0].step == 4);
  CHECK(t.tracks.at(static_cast<size_t>(t.spans[0].track)) == "input");
}

TEST_CASE("each thread asking for a device's track gets its own numbered track") {
  TraceRecorder recorder(SpanIdBase(0));
  const int32_t mine = recorder.ThreadTrack("/device:cpu:0");
  CHECK(recorder.ThreadTrack("/device:cpu:0") == mine);
  int32_t other = -1;
  std::thread([&] { other = recorder.ThreadTrack("/device:cpu:0"); }).join();
  CHECK(other != mine);
  CHECK(recorder.TrackName(mine) == "/device:cpu:0 #0");
  CHECK(recorder.TrackName(other) == "/device:cpu:0 #1");
}

TEST_CASE("the clock offset comes from the ping with the least round trip") {
  // The remote clock is 1000 ns ahead; the slow ping's remote reading is skewed.
  std::vector<ClockSample> samples = {{0, 1900, 800}, {2000, 3050, 2100}, {5000, 5500, 5400}};
  ClockOffset c = EstimateClockOffset(samples);
  CHECK(c.offset_ns == 1000);
  CHECK(c.error_ns == 50);
}

TEST_CASE("the Chrome trace names every task and track and shifts each task by its clock offset") {
  TraceSource ps{"ps:0", 0, {500'000, 10}, {}};
  ps.trace.tracks = {"ps"};
  ps.trace.spans.push_back({"apply", "ps", "", 0, 1'500'000, 1'700'000, SpanIdBase(0) + 1, SpanIdBase(1) + 1, 4});
  TraceSource worker{"worker:0 \"chief\"", 1, {0, 0}, {}};
  worker.trace.tracks = {"step", "rpc"};
  worker.trace.spans.push_back({"pushPull", "rpc", "ps:0", 1, 900'000, 1'300'000, SpanIdBase(1) + 1, 0, 4});
  const std::string json = ChromeTraceJson({ps, worker});
  // The ps span, aligned: 1.5 ms - 0.5 ms = 1.0 ms; the origin is the worker's 0.9 ms.
  CHECK_THAT(json, Catch::Contains(R"({"name":"apply","cat":"ps","ph":"X","ts":100.000,"dur":200.000,"pid":0,"tid":0,)"
                                   R"("args":{"id":1099511627777,"parent":2199023255553,"step":4}})"));
  CHECK_THAT(json, Catch::Contains(R"("ts":0.000,"dur":400.000,"pid":1,"tid":1,)"));
  CHECK_THAT(json, Catch::Contains(R"({"name":"process_name","ph":"M","pid":1,"tid":0,"args":{"name":"worker:0 \"chief\""}})"));
  CHECK_THAT(json, Catch::Contains(R"({"name":"thread_name","ph":"M","pid":1,"tid":1,"args":{"name":"rpc"}})"));
  CHECK_THAT(json, Catch::Contains(R"("ps:0":{"pid":0,"clock_offset_us":500,"clock_error_us":0.01,"spans":1,"dropped":0,"in_flight":0})"));
  CHECK(json.rfind("{\"traceEvents\":[", 0) == 0);
}

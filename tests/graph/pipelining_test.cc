// Partitions on different devices run at the same time: in a layered,
// unrolled model (layer d on device d), layer d at time t overlaps layer d+1
// at time t-1. Structural checks on the kernels' spans, not speed targets.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "core/thread_pool.h"
#include "core/trace.h"
#include "graph/device_overlap.h"
#include "graph/ops.h"
#include "graph/partitioned_runner.h"
#include "graph/placement.h"

using namespace flowps;

namespace {

constexpr int kLayers = 4, kSteps = 6;
constexpr int64_t kBatch = 32, kWidth = 384;

std::string Cpu(int d) { return "/job:worker/task:0/device:cpu:" + std::to_string(d); }

Tensor Filled(Shape shape, float scale) {
  Tensor t(DType::kFloat32, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = scale * static_cast<float>(i % 11 - 5);
  return t;
}

// A recurrent chain: h[d][t] = tanh(h[d-1][t] W_d + h[d][t-1] U_d), layer d
// on device d % devices, its nodes named "l<d>/t<t>/...". Fetches the last
// layer's outputs.
std::vector<std::string> BuildChain(Graph& g, int devices) {
  Output x = Placeholder(g, DType::kFloat32, Shape{kBatch, kWidth}, "x");
  std::vector<Output> below(kSteps, x);
  for (int d = 0; d < kLayers; ++d) {
    DeviceScope on(g, "/device:cpu:" + std::to_string(d % devices));
    Output w = Const(g, Filled(Shape{kWidth, kWidth}, 1e-3f), "l" + std::to_string(d) + "/W");
    Output u = Const(g, Filled(Shape{kWidth, kWidth}, 5e-4f), "l" + std::to_string(d) + "/U");
    Output h;
    for (int t = 0; t < kSteps; ++t) {
      NameScope scope(g, "l" + std::to_string(d) + "/t" + std::to_string(t));
      Output in = MatMul(below[static_cast<size_t>(t)], w);
      h = Tanh(h.valid() ? in + MatMul(h, u) : in);
      below[static_cast<size_t>(t)] = h;
    }
  }
  std::vector<std::string> fetches;
  for (const Output& o : below) fetches.push_back(o.name());
  return fetches;
}

struct Chain {
  OpRegistry reg;
  Graph g{&reg};
  std::unique_ptr<ThreadPool> pool = NewAsioThreadPool(4);
  std::unique_ptr<PartitionedRunner> runner;

  explicit Chain(int devices) {
    REQUIRE(RegisterStandardOps(&reg).ok());
    std::vector<std::string> fetches = BuildChain(g, devices);
    REQUIRE(g.status().ok());
    PlacementOptions placement;
    for (int d = 0; d < devices; ++d) placement.worker_devices.push_back(Cpu(d));
    placement.default_device = Cpu(0);
    REQUIRE(PlaceGraph(&g, placement).ok());
    auto made = PartitionedRunner::Create(g, fetches, {}, pool.get());
    REQUIRE(made.ok());
    runner = std::move(*made);
  }
  // One step; with `recorder`, its spans are recorded there.
  std::vector<Tensor> Run(TraceRecorder* recorder) {
    TraceContext trace;
    if (recorder != nullptr) trace = TraceContext{recorder, recorder->Track("step"), 0, 0};
    auto out = runner->Run({{"x", Filled(Shape{kBatch, kWidth}, 0.01f)}}, nullptr, trace);
    REQUIRE(out.ok());
    return *out;
  }
};

bool Overlap(const TraceSpan& a, const TraceSpan& b) { return a.start_ns < b.end_ns && b.start_ns < a.end_ns; }

// The kernel spans (not Send/Recv) of the nodes under "l<d>/t<t>/".
std::vector<TraceSpan> Cell(const TaskTrace& trace, int d, int t) {
  const std::string prefix = "l" + std::to_string(d) + "/t" + std::to_string(t) + "/";
  std::vector<TraceSpan> out;
  for (const TraceSpan& s : trace.spans)
    if (s.category == "node" && s.name.rfind(prefix, 0) == 0 && s.detail != "Send" && s.detail != "Recv")
      out.push_back(s);
  return out;
}

std::string DeviceOf(const TaskTrace& trace, const TraceSpan& span) {
  return TrackDevice(trace.tracks[static_cast<size_t>(span.track)]);
}

}  // namespace

TEST_CASE("in a layered chain on 4 devices, layer d at step t runs while layer d+1 works on step t-1") {
  Chain chain(4);
  REQUIRE(chain.runner->partitions().size() == 4);
  chain.Run(nullptr);  // warm up
  int overlapping_cells = 0;
  TaskTrace trace;
  for (int run = 0; run < 3 && overlapping_cells == 0; ++run) {
    TraceRecorder recorder(0);
    chain.Run(&recorder);
    trace = recorder.Take();
    for (int d = 0; d + 1 < kLayers; ++d)
      for (int t = 1; t < kSteps; ++t) {
        auto now = Cell(trace, d, t), next_layer_before = Cell(trace, d + 1, t - 1);
        REQUIRE_FALSE(now.empty());
        REQUIRE_FALSE(next_layer_before.empty());
        CHECK(DeviceOf(trace, now[0]) == Cpu(d));
        CHECK(DeviceOf(trace, next_layer_before[0]) == Cpu(d + 1));
        bool overlap = false;
        for (const auto& a : now)
          for (const auto& b : next_layer_before) overlap = overlap || Overlap(a, b);
        overlapping_cells += overlap ? 1 : 0;
      }
  }
  CHECK(overlapping_cells > 0);
  DeviceOverlap measured = MeasureDeviceOverlap(trace);
  CHECK(measured.devices == 4);
  CHECK(measured.overlap_seconds > 0);
  CHECK(measured.overlap_seconds <= measured.busy_seconds);
}

TEST_CASE("the chain computes the same numbers on 1 device and on 4") {
  Chain one(1), four(4);
  REQUIRE(one.runner->partitions().size() == 1);
  std::vector<Tensor> a = one.Run(nullptr), b = four.Run(nullptr);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i].ToVector<float>() == b[i].ToVector<float>());
}

TEST_CASE("on one device no two devices are ever busy at once") {
  Chain one(1);
  TraceRecorder recorder(0);
  one.Run(&recorder);
  DeviceOverlap measured = MeasureDeviceOverlap(recorder.Take());
  CHECK(measured.devices == 1);
  CHECK(measured.busy_seconds > 0);
  CHECK(measured.overlap_seconds == 0);
}

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "core/thread_pool.h"
#include "graph/executor.h"
#include "graph/ops.h"
#include "graph/partitioned_runner.h"
#include "graph/placement.h"
#include "graph/variable_store.h"

using namespace flowps;

namespace {

const std::string kCpu0 = "/job:worker/task:0/device:cpu:0";
const std::string kCpu1 = "/job:worker/task:0/device:cpu:1";

PlacementOptions TwoCpus() {
  PlacementOptions o;
  o.ps_tasks = {"/job:ps/task:0"};
  o.worker_devices = {kCpu0, kCpu1};
  o.default_device = kCpu0;
  return o;
}

Tensor Iota(Shape shape, float scale) {
  Tensor t(DType::kFloat32, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = scale * static_cast<float>(i % 7 - 3);
  return t;
}

}  // namespace

TEST_CASE("a graph partitioned over two CPU devices computes the same numbers as unpartitioned") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  Graph g(&reg);
  Output x = Placeholder(g, DType::kFloat32, Shape{-1, 3}, "x");
  Output w = Const(g, Iota(Shape{3, 4}, 0.5f), "w");
  Output h, y, z;
  {
    DeviceScope d(g, kCpu1);
    h = Relu(MatMul(x, w));
  }
  y = Tanh(h) * h + Const(g, Iota(Shape{4}, 0.25f));
  {
    DeviceScope d(g, kCpu1);
    z = ReduceSum(Square(y) + h, {1});
  }
  Output both = Concat({y, h}, 1);
  REQUIRE(g.status().ok());
  REQUIRE(PlaceGraph(&g, TwoCpus()).ok());

  auto pool = NewAsioThreadPool(2);
  Tensor feed = Iota(Shape{5, 3}, 1.0f);
  Executor whole(g, pool.get());
  auto expected = whole.Run({{x, feed}}, {z, both});
  REQUIRE(expected.ok());

  auto runner = PartitionedRunner::Create(g, {z.name(), both.name()}, {}, pool.get());
  REQUIRE(runner.ok());
  REQUIRE((*runner)->partitions().size() == 2);
  for (int run = 0; run < 3; ++run) {  // steps do not interfere
    auto got = (*runner)->Run({{"x", feed}}, nullptr);
    REQUIRE(got.ok());
    REQUIRE(got->size() == 2);
    for (int i = 0; i < 2; ++i) {
      REQUIRE((*got)[i].shape() == (*expected)[i].shape());
      CHECK((*got)[i].ToVector<float>() == (*expected)[i].ToVector<float>());
    }
  }
}

TEST_CASE("a variable on the ps is read and updated from a worker device through Send/Recv") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  Graph g(&reg);
  Output x = Placeholder(g, DType::kFloat32, Shape{2}, "x");
  Output v = Variable(g, "v", Shape{2});
  Output update = Assign(v, v * 2.0f + x);
  REQUIRE(g.status().ok());
  REQUIRE(PlaceGraph(&g, TwoCpus()).ok());
  CHECK(v.node->assigned_device() == "/job:ps/task:0");
  CHECK(update.node->assigned_device() == "/job:ps/task:0");

  auto pool = NewAsioThreadPool(2);
  VariableStore whole_store, split_store;
  whole_store.Set("v", Tensor::FromVector<float>(Shape{2}, {1.f, -1.f}));
  split_store.Set("v", Tensor::FromVector<float>(Shape{2}, {1.f, -1.f}));
  Tensor feed = Tensor::FromVector<float>(Shape{2}, {0.5f, 3.f});
  Executor whole(g, pool.get());
  auto runner = PartitionedRunner::Create(g, {}, {update.node->name()}, pool.get());
  REQUIRE(runner.ok());
  for (int step = 0; step < 3; ++step) {
    REQUIRE(whole.Run({{x, feed}}, {}, {update.node}, StepOptions{&whole_store, nullptr}).ok());
    REQUIRE((*runner)->Run({{"x", feed}}, &split_store).ok());
  }
  auto a = whole_store.Read("v"), b = split_store.Read("v");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->ToVector<float>() == std::vector<float>{11.5f, 13.f});  // ((1*2+.5)*2+.5)*2+.5
  CHECK(b->ToVector<float>() == a->ToVector<float>());
}

TEST_CASE("a kernel error on one device fails the step on every device instead of hanging") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  Graph g(&reg);
  Output x = Placeholder(g, DType::kFloat32, Shape{-1, 3}, "x");
  Output r;
  {
    DeviceScope d(g, kCpu1);
    r = Reshape(x, Shape{-1, 5});  // fails at run time unless the element count divides by 5
  }
  Output out = Exp(r);  // on cpu:0, waits for r through a Recv
  REQUIRE(g.status().ok());
  REQUIRE(PlaceGraph(&g, TwoCpus()).ok());
  auto pool = NewAsioThreadPool(2);
  auto runner = PartitionedRunner::Create(g, {out.name()}, {}, pool.get());
  REQUIRE(runner.ok());
  auto bad = (*runner)->Run({{"x", Iota(Shape{4, 3}, 1.f)}}, nullptr);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains(r.node->name()));
  auto good = (*runner)->Run({{"x", Iota(Shape{5, 3}, 1.f)}}, nullptr);
  REQUIRE(good.ok());
  CHECK((*good)[0].shape() == Shape{3, 5});
}

TEST_CASE("an unknown fetch or feed is refused by name") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  Graph g(&reg);
  Output x = Placeholder(g, DType::kFloat32, Shape{2}, "x");
  Output y = Neg(x);
  REQUIRE(PlaceGraph(&g, TwoCpus()).ok());
  auto pool = NewAsioThreadPool(1);
  CHECK_THAT(PartitionedRunner::Create(g, {"nope:0"}, {}, pool.get()).status().message(), Catch::Contains("'nope'"));
  auto runner = PartitionedRunner::Create(g, {y.name()}, {}, pool.get());
  REQUIRE(runner.ok());
  auto r = (*runner)->Run({{"z", Tensor::Scalar<float>(1.f)}}, nullptr);
  CHECK_THAT(r.status().message(), Catch::Contains("feed 'z'"));
}

TEST_CASE("a failing device that also waits on a Recv does not deadlock the step") {
  // cpu:0 fails at r while its Recv of e waits for cpu:1, and cpu:1 waits
  // for r: only aborting the rendezvous at the first error ends the step.
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  Graph g(&reg);
  Output x = Placeholder(g, DType::kFloat32, Shape{-1, 3}, "x");
  Output r = Reshape(x, Shape{-1, 5});
  Output e;
  {
    DeviceScope d(g, kCpu1);
    e = Exp(r);
  }
  Output f = Neg(e);
  REQUIRE(g.status().ok());
  REQUIRE(PlaceGraph(&g, TwoCpus()).ok());
  REQUIRE(r.node->assigned_device() == kCpu0);
  REQUIRE(f.node->assigned_device() == kCpu0);
  auto pool = NewAsioThreadPool(2);
  auto runner = PartitionedRunner::Create(g, {f.name()}, {}, pool.get());
  REQUIRE(runner.ok());
  auto bad = (*runner)->Run({{"x", Iota(Shape{4, 3}, 1.f)}}, nullptr);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains(r.node->name()));
}

TEST_CASE("a control edge across devices orders the step and runs what it guards") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  Graph g(&reg);
  Output x = Placeholder(g, DType::kFloat32, Shape{2}, "x");
  Output v = Variable(g, "v", Shape{2});
  Output update = Assign(v, x * 3.0f);  // on the ps, with v
  {
    DeviceScope d(g, kCpu1);
    NoOp(g, {update.node}, "done");
  }
  REQUIRE(g.status().ok());
  REQUIRE(PlaceGraph(&g, TwoCpus()).ok());
  auto pool = NewAsioThreadPool(2);
  auto runner = PartitionedRunner::Create(g, {}, {"done"}, pool.get());
  REQUIRE(runner.ok());
  REQUIRE((*runner)->partitions().size() == 3);  // ps, cpu:0 (x * 3), cpu:1 (done)
  VariableStore store;
  store.Set("v", Tensor::FromVector<float>(Shape{2}, {0.f, 0.f}));
  REQUIRE((*runner)->Run({{"x", Tensor::FromVector<float>(Shape{2}, {1.f, 2.f})}}, &store).ok());
  auto value = store.Read("v");
  REQUIRE(value.ok());
  CHECK(value->ToVector<float>() == std::vector<float>{3.f, 6.f});
}

TEST_CASE("a traced step records each partition on its device's track, with one span per node under it") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  Graph g(&reg);
  Output x = Placeholder(g, DType::kFloat32, Shape{-1, 3}, "x");
  Output h;
  {
    DeviceScope d(g, kCpu1);
    h = Relu(MatMul(x, Const(g, Iota(Shape{3, 4}, 0.5f), "w")));
  }
  Output z = ReduceSum(Square(h), {1});
  REQUIRE(g.status().ok());
  REQUIRE(PlaceGraph(&g, TwoCpus()).ok());
  auto pool = NewAsioThreadPool(2);
  auto runner = PartitionedRunner::Create(g, {z.name()}, {}, pool.get());
  REQUIRE(runner.ok());

  TraceRecorder recorder(SpanIdBase(1));
  REQUIRE((*runner)->Run({{"x", Iota(Shape{5, 3}, 1.0f)}}, nullptr).ok());  // untraced: nothing recorded
  CHECK(recorder.Take().spans.empty());
  REQUIRE((*runner)->Run({{"x", Iota(Shape{5, 3}, 1.0f)}}, nullptr, TraceContext{&recorder, 0, 42, 3}).ok());
  TaskTrace t = recorder.Take();

  std::map<uint64_t, const TraceSpan*> partitions;
  for (const TraceSpan& s : t.spans)
    if (s.category == "partition") partitions[s.id] = &s;
  REQUIRE(partitions.size() == 2);
  std::set<std::string> partition_devices, node_names;
  for (const auto& [id, p] : partitions) {
    partition_devices.insert(p->name);
    CHECK(p->parent == 42);
    CHECK(t.tracks[p->track] == p->name);
  }
  CHECK(partition_devices == std::set<std::string>{kCpu0, kCpu1});
  for (const TraceSpan& s : t.spans) {
    if (s.category != "node") continue;
    node_names.insert(s.name);
    REQUIRE(partitions.count(s.parent) == 1);
    const TraceSpan& p = *partitions[s.parent];
    CHECK(s.step == 3);
    CHECK(t.tracks[s.track].rfind(p.name + " ", 0) == 0);  // "<device> #k" or "<device> async"
    CHECK(s.start_ns >= p.start_ns);
    CHECK(s.end_ns <= p.end_ns);
  }
  CHECK(node_names.count("w") == 1);
  for (const TraceSpan& s : t.spans)
    if (s.category == "node" && s.detail == "MatMul") CHECK(t.tracks[s.track].rfind(kCpu1, 0) == 0);
  CHECK(std::count_if(t.spans.begin(), t.spans.end(), [](const TraceSpan& s) { return s.detail == "Recv"; }) >= 1);
}

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <random>

#include "core/thread_pool.h"
#include "graph/executor.h"
#include "graph/graph_def.h"
#include "graph/ops.h"
#include "test_ops.h"

using namespace flowps;
using testing::AddTestNode;

namespace {

// A graph with every attribute kind, a control edge and a requested device.
void BuildSample(Graph& g) {
  Node* a = AddTestNode(g, "TestSource", "layer/a", {}, Shape{2, 3}, "/job:worker/task:0/device:cpu:1");
  Node* b = AddTestNode(g, "TestVariable", "layer/b", {}, Shape{2, 3});
  NodeSpec spec{"TestAdd", "sum", {a->output(), b->output()}, {b}, {}, ""};
  spec.attrs = {{"i", int64_t{-7}},
                {"f", 2.5},
                {"flag", true},
                {"s", std::string("text")},
                {"dt", DType::kInt64},
                {"shape", Shape{-1, 4}},
                {"ints", std::vector<int64_t>{1, 2, 3}},
                {"value", Tensor::FromVector<float>(Shape{2, 2}, {1.f, -2.f, 3.5f, 4.f})}};
  REQUIRE(g.AddNode(spec).ok());
}

// The sample graph, serialized; registers the test ops into `reg`.
std::string SerializedSample(OpRegistry* reg) {
  testing::RegisterTestOps(reg);
  Graph g(reg);
  BuildSample(g);
  auto bytes = SerializeGraph(g);
  REQUIRE(bytes.ok());
  return *bytes;
}

}  // namespace

TEST_CASE("a graph re-loads with the same nodes, edges, attributes and devices") {
  OpRegistry reg;
  std::string bytes = SerializedSample(&reg);
  auto loaded = DeserializeGraph(bytes, &reg);
  REQUIRE(loaded.ok());
  const Graph& h = **loaded;
  REQUIRE(h.num_nodes() == 3);
  Node* sum = h.FindNode("sum");
  REQUIRE(sum != nullptr);
  CHECK(sum->input(0).node->name() == "layer/a");
  CHECK(sum->input(1).node->name() == "layer/b");
  REQUIRE(sum->control_inputs().size() == 1);
  CHECK(sum->control_inputs()[0]->name() == "layer/b");
  CHECK(sum->output_shape(0) == Shape{2, 3});  // shape inference ran again
  CHECK(h.FindNode("layer/a")->requested_device() == "/job:worker/task:0/device:cpu:1");
  const AttrMap& at = sum->attrs();
  CHECK(std::get<int64_t>(at.at("i")) == -7);
  CHECK(std::get<double>(at.at("f")) == 2.5);
  CHECK(std::get<bool>(at.at("flag")));
  CHECK(std::get<std::string>(at.at("s")) == "text");
  CHECK(std::get<DType>(at.at("dt")) == DType::kInt64);
  CHECK(std::get<Shape>(at.at("shape")) == Shape{-1, 4});
  CHECK(std::get<std::vector<int64_t>>(at.at("ints")) == std::vector<int64_t>{1, 2, 3});
  const Tensor& t = std::get<Tensor>(at.at("value"));
  CHECK(t.shape() == Shape{2, 2});
  CHECK(t.ToVector<float>() == std::vector<float>{1.f, -2.f, 3.5f, 4.f});
  // Serializing the loaded graph gives the same bytes.
  auto again = SerializeGraph(h);
  REQUIRE(again.ok());
  CHECK(*again == bytes);
}

TEST_CASE("a graph file round-trips and a missing file is named") {
  OpRegistry reg;
  testing::RegisterTestOps(&reg);
  Graph g(&reg);
  BuildSample(g);
  auto path = (std::filesystem::temp_directory_path() / ("flowps_graph_def_" + std::to_string(::getpid()) + ".bin")).string();
  REQUIRE(WriteGraphFile(g, path).ok());
  auto loaded = ReadGraphFile(path, &reg);
  std::filesystem::remove(path);
  REQUIRE(loaded.ok());
  CHECK((*loaded)->num_nodes() == 3);
  auto missing = ReadGraphFile(path, &reg);
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.status().message(), Catch::Contains(path));
}

TEST_CASE("an unknown op or a graph the registry cannot check is refused, naming the node") {
  OpRegistry full;
  std::string bytes = SerializedSample(&full);
  OpRegistry empty;
  auto loaded = DeserializeGraph(bytes, &empty);
  REQUIRE_FALSE(loaded.ok());
  CHECK_THAT(loaded.status().message(), Catch::Contains("'layer/a'") && Catch::Contains("unknown op 'TestSource'"));
}

TEST_CASE("truncated, misaligned or bit-flipped bytes never crash the reader, and broken structure is refused") {
  OpRegistry reg;
  const std::string bytes = SerializedSample(&reg);

  CHECK_FALSE(DeserializeGraph("", &reg).ok());
  CHECK_THAT(DeserializeGraph(bytes.substr(0, 13), &reg).status().message(), Catch::Contains("8-byte words"));
  auto truncated = DeserializeGraph(bytes.substr(0, bytes.size() / 2 / 8 * 8), &reg);
  REQUIRE_FALSE(truncated.ok());
  CHECK_THAT(truncated.status().message(), Catch::Contains("malformed"));

  std::mt19937 rng(42);
  int refused = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    std::string corrupt = bytes;
    size_t pos = rng() % corrupt.size();
    corrupt[pos] = static_cast<char>(corrupt[pos] ^ (1 << (rng() % 8)));
    auto r = DeserializeGraph(corrupt, &reg);
    if (!r.ok()) {
      ++refused;
      CHECK(r.status().code() == Code::kInvalidArgument);
    }
  }
  CHECK(refused > 0);
}

TEST_CASE("a re-loaded graph of standard ops computes the same numbers") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  Graph g(&reg);
  Output x = Placeholder(g, DType::kFloat32, Shape{-1, 3}, "x");
  Output w = Const(g, Tensor::FromVector<float>(Shape{3, 2}, {0.5f, -1.f, 2.f, 0.25f, -0.75f, 1.5f}), "w");
  Output y = Softmax(Relu(MatMul(x, w)) + Const(g, Tensor::FromVector<float>(Shape{2}, {0.1f, -0.2f})));
  Output z = ReduceSum(Tanh(y) * y, {1});
  REQUIRE(g.status().ok());
  auto bytes = SerializeGraph(g);
  REQUIRE(bytes.ok());
  auto h = DeserializeGraph(*bytes, &reg);
  REQUIRE(h.ok());

  auto pool = NewAsioThreadPool(2);
  Tensor feed = Tensor::FromVector<float>(Shape{2, 3}, {1.f, 2.f, 3.f, -1.f, 0.5f, 4.f});
  Executor original(g, pool.get()), reloaded(**h, pool.get());
  auto a = original.Run({{x, feed}}, {y, z});
  auto hx = (*h)->FindOutput("x"), hy = (*h)->FindOutput(y.name()), hz = (*h)->FindOutput(z.name());
  REQUIRE((hx.ok() && hy.ok() && hz.ok()));
  auto b = reloaded.Run({{*hx, feed}}, {*hy, *hz});
  REQUIRE((a.ok() && b.ok()));
  for (int i = 0; i < 2; ++i) CHECK((*a)[i].ToVector<float>() == (*b)[i].ToVector<float>());
}

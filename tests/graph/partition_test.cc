#include <catch2/catch.hpp>

#include "graph/partition.h"
#include "graph/placement.h"
#include "test_ops.h"

using namespace flowps;
using testing::AddTestNode;

namespace {

const std::string kCpu0 = "/job:worker/task:0/device:cpu:0";
const std::string kCpu1 = "/job:worker/task:0/device:cpu:1";

std::vector<Node*> NodesOfOp(const Graph& g, const std::string& op) {
  std::vector<Node*> out;
  for (const auto& n : g.nodes())
    if (n->op() == op) out.push_back(n.get());
  return out;
}

}  // namespace

TEST_CASE("a tensor used by many consumers on another device crosses once, with a deterministic key") {
  OpRegistry reg;
  RegisterStandardOps(&reg);
  testing::RegisterTestOps(&reg);
  Graph g(&reg);
  Node* a = AddTestNode(g, "TestSource", "a", {}, Shape{3}, kCpu0);
  Node* b = AddTestNode(g, "TestSource", "b", {}, Shape{3}, kCpu1);
  Node* c = AddTestNode(g, "TestAdd", "c", {a->output(), b->output()}, Shape{3}, kCpu1);
  AddTestNode(g, "TestAdd", "d", {a->output(), c->output()}, Shape{3}, kCpu1);
  AddTestNode(g, "TestAdd", "e", {c->output(), a->output()}, Shape{3}, kCpu0);
  REQUIRE(g.status().ok());
  for (const auto& n : g.nodes()) n->set_assigned_device(n->requested_device());

  auto parts = PartitionGraph(g);
  REQUIRE(parts.ok());
  REQUIRE(parts->size() == 2);
  const Graph& g0 = *parts->at(kCpu0);
  const Graph& g1 = *parts->at(kCpu1);
  // a goes cpu0 -> cpu1 once (for c and d); c goes cpu1 -> cpu0 once (for e).
  REQUIRE(NodesOfOp(g0, "Send").size() == 1);
  REQUIRE(NodesOfOp(g1, "Recv").size() == 1);
  REQUIRE(NodesOfOp(g1, "Send").size() == 1);
  REQUIRE(NodesOfOp(g0, "Recv").size() == 1);
  std::string key_a = kCpu0 + ";a:0;" + kCpu1;
  CHECK(SendRecvKey(kCpu0, "a:0", kCpu1) == key_a);
  CHECK(std::get<std::string>(NodesOfOp(g0, "Send")[0]->attrs().at("key")) == key_a);
  Node* recv_a = NodesOfOp(g1, "Recv")[0];
  CHECK(std::get<std::string>(recv_a->attrs().at("key")) == key_a);
  CHECK(recv_a->output_shape(0) == Shape{3});
  CHECK(g1.FindNode("c")->input(0).node == recv_a);
  CHECK(g1.FindNode("d")->input(0).node == recv_a);
  CHECK(g0.FindNode("e")->input(0).node->op() == "Recv");
  CHECK(g0.FindNode("e")->input(1).node == g0.FindNode("a"));
  for (const auto& [dev, part] : *parts)
    for (const auto& n : part->nodes()) CHECK(n->assigned_device() == dev);

  // The same graph partitions the same way again.
  auto again = PartitionGraph(g);
  REQUIRE(again.ok());
  for (const auto& [dev, part] : *again) {
    const Graph& before = *parts->at(dev);
    REQUIRE(part->num_nodes() == before.num_nodes());
    for (int i = 0; i < part->num_nodes(); ++i) {
      CHECK(part->nodes()[i]->name() == before.nodes()[i]->name());
      CHECK(part->nodes()[i]->attrs().size() == before.nodes()[i]->attrs().size());
    }
  }
}

TEST_CASE("a control edge across devices becomes a signal Send/Recv pair") {
  OpRegistry reg;
  RegisterStandardOps(&reg);
  testing::RegisterTestOps(&reg);
  Graph g(&reg);
  Node* w = AddTestNode(g, "TestVariable", "w", {}, Shape{2});
  Node* x = AddTestNode(g, "TestSource", "x", {}, Shape{2});
  (void)w;
  Node* upd = *g.AddNode({"TestAssign", "update", {x->output()}, {}, {{"var_name", std::string("w")}}, ""});
  Node* after = AddTestNode(g, "TestSource", "after", {}, Shape{2});
  after->AddControlInput(upd);
  PlacementOptions o;
  o.ps_tasks = {"/job:ps/task:0"};
  o.worker_devices = {kCpu0};
  o.default_device = kCpu0;
  o.variable_ops = {"TestVariable"};
  REQUIRE(PlaceGraph(&g, o).ok());
  auto parts = PartitionGraph(g);
  REQUIRE(parts.ok());
  const Graph& ps = *parts->at("/job:ps/task:0");
  const Graph& worker = *parts->at(kCpu0);
  // x crosses to the ps for the update; the update signals back to `after`.
  std::vector<Node*> ps_sends = NodesOfOp(ps, "Send");
  REQUIRE(ps_sends.size() == 1);
  CHECK(ps_sends[0]->num_inputs() == 0);
  REQUIRE(ps_sends[0]->control_inputs().size() == 1);
  CHECK(ps_sends[0]->control_inputs()[0] == ps.FindNode("update"));
  CHECK(std::get<std::string>(ps_sends[0]->attrs().at("key")) == "/job:ps/task:0;^update;" + kCpu0);
  Node* after_copy = worker.FindNode("after");
  REQUIRE(after_copy->control_inputs().size() == 1);
  CHECK(after_copy->control_inputs()[0]->op() == "Recv");
  CHECK(after_copy->control_inputs()[0]->output_dtype(0) == DType::kInt32);
}

TEST_CASE("partition refuses an unplaced graph and a cycle, naming a node") {
  OpRegistry reg;
  RegisterStandardOps(&reg);
  testing::RegisterTestOps(&reg);
  Graph g(&reg);
  Node* a = AddTestNode(g, "TestSource", "a", {});
  auto unplaced = PartitionGraph(g);
  REQUIRE_FALSE(unplaced.ok());
  CHECK_THAT(unplaced.status().message(), Catch::Contains("'a'") && Catch::Contains("no assigned device"));

  Node* b = AddTestNode(g, "TestSource", "b", {});
  a->AddControlInput(b);
  b->AddControlInput(a);
  auto cyclic = TopologicalOrder(g);
  REQUIRE_FALSE(cyclic.ok());
  CHECK_THAT(cyclic.status().message(), Catch::Contains("cycle"));
}

TEST_CASE("with roots, partition keeps only the nodes the roots need") {
  OpRegistry reg;
  RegisterStandardOps(&reg);
  testing::RegisterTestOps(&reg);
  Graph g(&reg);
  Node* a = AddTestNode(g, "TestSource", "a", {}, Shape{2}, kCpu0);
  Node* b = AddTestNode(g, "TestSource", "b", {}, Shape{2}, kCpu1);
  Node* used = AddTestNode(g, "TestAdd", "used", {a->output(), a->output()}, Shape{2}, kCpu1);
  AddTestNode(g, "TestAdd", "unused", {a->output(), b->output()}, Shape{2}, kCpu0);
  for (const auto& n : g.nodes()) n->set_assigned_device(n->requested_device());
  auto parts = PartitionGraph(g, {used});
  REQUIRE(parts.ok());
  CHECK(parts->at(kCpu0)->FindNode("unused") == nullptr);
  CHECK(parts->at(kCpu1)->FindNode("b") == nullptr);
  CHECK(parts->at(kCpu1)->FindNode("used") != nullptr);
  CHECK(NodesOfOp(*parts->at(kCpu0), "Send").size() == 1);
}

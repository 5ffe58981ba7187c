#include <catch2/catch.hpp>

#include <map>

#include "graph/placement.h"
#include "test_ops.h"

using namespace flowps;
using testing::AddTestNode;

namespace {

PlacementOptions TwoPs() {
  PlacementOptions o;
  o.ps_tasks = {"/job:ps/task:0", "/job:ps/task:1"};
  o.worker_devices = {"/job:worker/task:0/device:cpu:0", "/job:worker/task:0/device:cpu:1"};
  o.default_device = "/job:worker/task:0/device:cpu:0";
  o.variable_ops = {"TestVariable"};
  return o;
}

}  // namespace

TEST_CASE("variables are spread over the ps tasks balanced by bytes, largest first") {
  OpRegistry reg;
  testing::RegisterTestOps(&reg);
  Graph g(&reg);
  // Largest first, each to the lighter task: big(1000)->ps0, b(600)->ps1,
  // c(500)->ps1 (600 < 1000), d(10)->ps0 (1010 vs 1100 after).
  AddTestNode(g, "TestVariable", "big", {}, Shape{1000});
  AddTestNode(g, "TestVariable", "b", {}, Shape{600});
  AddTestNode(g, "TestVariable", "c", {}, Shape{500});
  AddTestNode(g, "TestVariable", "d", {}, Shape{10});
  REQUIRE(g.status().ok());
  REQUIRE(PlaceGraph(&g, TwoPs()).ok());
  std::map<std::string, int64_t> load;
  for (const auto& n : g.nodes()) load[n->assigned_device()] += n->output_shape(0).num_elements();
  CHECK(g.FindNode("big")->assigned_device() == "/job:ps/task:0");
  CHECK(g.FindNode("b")->assigned_device() == "/job:ps/task:1");
  CHECK(g.FindNode("c")->assigned_device() == "/job:ps/task:1");
  CHECK(g.FindNode("d")->assigned_device() == "/job:ps/task:0");
  CHECK(load["/job:ps/task:0"] == 1010);
  CHECK(load["/job:ps/task:1"] == 1100);
}

TEST_CASE("placement is deterministic for variables of equal size") {
  OpRegistry reg;
  testing::RegisterTestOps(&reg);
  std::vector<std::string> first;
  for (int run = 0; run < 2; ++run) {
    Graph g(&reg);
    for (const char* name : {"w3", "w1", "w2", "w0"}) AddTestNode(g, "TestVariable", name, {}, Shape{8});
    REQUIRE(PlaceGraph(&g, TwoPs()).ok());
    std::vector<std::string> devices;
    for (const auto& n : g.nodes()) devices.push_back(n->assigned_device());
    if (run == 0) first = devices;
    CHECK(devices == first);
    // Ties go by name: w0 -> ps0, w1 -> ps1, w2 -> ps0, w3 -> ps1.
    CHECK(g.FindNode("w0")->assigned_device() == "/job:ps/task:0");
    CHECK(g.FindNode("w3")->assigned_device() == "/job:ps/task:1");
  }
}

TEST_CASE("an explicit hint wins, a bare task takes its cpu:0, updates follow their variable") {
  OpRegistry reg;
  testing::RegisterTestOps(&reg);
  Graph g(&reg);
  Node* w = AddTestNode(g, "TestVariable", "w", {}, Shape{2}, "/job:ps/task:1");
  Node* x = AddTestNode(g, "TestSource", "x", {});
  Node* y = AddTestNode(g, "TestAdd", "y", {w->output(), x->output()}, Shape{2}, "/job:worker/task:0/device:cpu:1");
  Node* z = AddTestNode(g, "TestAdd", "z", {y->output(), x->output()}, Shape{2}, "/job:worker/task:0");
  Node* upd = *g.AddNode({"TestAssign", "update_w", {z->output()}, {}, {{"var_name", std::string("w")}}, ""});
  REQUIRE(g.status().ok());
  REQUIRE(PlaceGraph(&g, TwoPs()).ok());
  CHECK(w->assigned_device() == "/job:ps/task:1");
  CHECK(x->assigned_device() == "/job:worker/task:0/device:cpu:0");
  CHECK(y->assigned_device() == "/job:worker/task:0/device:cpu:1");
  CHECK(z->assigned_device() == "/job:worker/task:0/device:cpu:0");
  CHECK(upd->assigned_device() == "/job:ps/task:1");
}

TEST_CASE("an impossible device hint is refused naming the node and the device") {
  OpRegistry reg;
  testing::RegisterTestOps(&reg);
  Graph g(&reg);
  AddTestNode(g, "TestSource", "ok", {});
  AddTestNode(g, "TestVariable", "w", {}, Shape{2}, "/job:ps/task:7");
  Status s = PlaceGraph(&g, TwoPs());
  REQUIRE_FALSE(s.ok());
  CHECK_THAT(s.message(), Catch::Contains("node 'w' (op TestVariable)") &&
                              Catch::Contains("'/job:ps/task:7'") && Catch::Contains("does not exist"));
  CHECK(g.FindNode("ok")->assigned_device().empty());  // nothing half-applied

  Graph g2(&reg);
  AddTestNode(g2, "TestSource", "x", {}, Shape{2}, "/job:worker/task:0/device:tpu:0");
  Status s2 = PlaceGraph(&g2, TwoPs());
  CHECK_THAT(s2.message(), Catch::Contains("node 'x'") && Catch::Contains("device type 'tpu'"));
}

TEST_CASE("with soft placement a node asking for a missing device takes the default device, and says so") {
  OpRegistry reg;
  testing::RegisterTestOps(&reg);
  Graph g(&reg);
  AddTestNode(g, "TestSource", "layer3/h", {}, Shape{2}, "/device:cpu:3");
  AddTestNode(g, "TestSource", "layer1/h", {}, Shape{2}, "/device:cpu:1");
  PlacementOptions o = TwoPs();
  REQUIRE_FALSE(PlaceGraph(&g, o).ok());
  o.soft_placement = true;
  std::vector<std::string> moved;
  REQUIRE(PlaceGraph(&g, o, &moved).ok());
  CHECK(g.FindNode("layer3/h")->assigned_device() == "/job:worker/task:0/device:cpu:0");
  CHECK(g.FindNode("layer1/h")->assigned_device() == "/job:worker/task:0/device:cpu:1");  // exists: kept
  REQUIRE(moved.size() == 1);
  CHECK(moved[0] == "node 'layer3/h' (op TestSource): /job:worker/task:0/device:cpu:3 -> /job:worker/task:0/device:cpu:0");
}

TEST_CASE("a request for a GPU that a CPU device stands in for takes the stand-in") {
  OpRegistry reg;
  testing::RegisterTestOps(&reg);
  Graph g(&reg);
  AddTestNode(g, "TestSource", "h", {}, Shape{2}, "/gpu:1");
  PlacementOptions o = TwoPs();
  o.stand_ins = {{"/job:worker/task:0/device:gpu:1", "/job:worker/task:0/device:cpu:1"}};
  REQUIRE(PlaceGraph(&g, o).ok());
  CHECK(g.FindNode("h")->assigned_device() == "/job:worker/task:0/device:cpu:1");
}

TEST_CASE("without ps tasks every node goes to the default device") {
  OpRegistry reg;
  testing::RegisterTestOps(&reg);
  Graph g(&reg);
  AddTestNode(g, "TestVariable", "w", {});
  AddTestNode(g, "TestSource", "x", {});
  PlacementOptions o;
  o.default_device = "/job:localhost/task:0/device:cpu:0";
  o.variable_ops = {"TestVariable"};
  REQUIRE(PlaceGraph(&g, o).ok());
  for (const auto& n : g.nodes()) CHECK(n->assigned_device() == "/job:localhost/task:0/device:cpu:0");
}

TEST_CASE("a variable read twice lands on one ps task, and conflicting hints for it are refused") {
  OpRegistry reg;
  testing::RegisterTestOps(&reg);
  Graph g(&reg);
  AddTestNode(g, "TestVariable", "a", {}, Shape{100});
  Node* w1 = AddTestNode(g, "TestVariable", "w", {}, Shape{50});
  Node* w2 = *g.AddNode({"TestVariable", "w_again", {}, {}, w1->attrs(), ""});
  REQUIRE(PlaceGraph(&g, TwoPs()).ok());
  CHECK(w1->assigned_device() == "/job:ps/task:1");
  CHECK(w2->assigned_device() == "/job:ps/task:1");

  Graph h(&reg);
  Node* v1 = AddTestNode(h, "TestVariable", "v", {}, Shape{2}, "/job:ps/task:0");
  NodeSpec again{"TestVariable", "v_again", {}, {}, v1->attrs(), "/job:ps/task:1"};
  REQUIRE(h.AddNode(again).ok());
  Status s = PlaceGraph(&h, TwoPs());
  CHECK_THAT(s.message(), Catch::Contains("variable 'v' is requested on both"));
}

TEST_CASE("a constant goes where all its consumers are, and stays on the default device otherwise") {
  OpRegistry reg;
  testing::RegisterTestOps(&reg);
  Graph g(&reg);
  const std::string cpu1 = "/job:worker/task:0/device:cpu:1";
  Node* only_cpu1 = AddTestNode(g, "TestSource", "only_cpu1", {});
  Node* shared = AddTestNode(g, "TestSource", "shared", {});
  AddTestNode(g, "TestAdd", "a", {only_cpu1->output(), shared->output()}, Shape{2}, cpu1);
  AddTestNode(g, "TestAdd", "b", {only_cpu1->output(), only_cpu1->output()}, Shape{2}, cpu1);
  AddTestNode(g, "TestAdd", "c", {shared->output(), shared->output()});
  Node* update = *g.AddNode({"TestAssign", "update", {shared->output()}, {}, {{"var_name", std::string("w")}}, ""});
  AddTestNode(g, "TestVariable", "w", {}, Shape{2}, "/job:ps/task:1");
  REQUIRE(g.status().ok());
  REQUIRE(PlaceGraph(&g, TwoPs()).ok());
  CHECK(only_cpu1->assigned_device() == cpu1);
  CHECK(shared->assigned_device() == "/job:worker/task:0/device:cpu:0");  // consumers on three devices
  CHECK(update->assigned_device() == "/job:ps/task:1");
}

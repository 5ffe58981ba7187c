// A graph is a complete model: initializers, requested devices and roles
// survive a GraphDef round trip, placement honours partial device requests,
// and ValidateModel refuses an incomplete model naming the node.
#include <catch2/catch.hpp>

#include <cmath>

#include "graph/graph_def.h"
#include "graph/model_roles.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/placement.h"

using namespace flowps;
using kernels::InitializerKind;
using kernels::InitializerSpec;

namespace {

InitializerSpec Kind(InitializerKind kind, uint64_t seed = 7) {
  InitializerSpec s;
  s.kind = kind;
  s.seed = seed;
  return s;
}

// x [?, 4] -> relu(x W1) W2 -> loss, with W1 requested on cpu:1 and every role.
struct SmallModel {
  OpRegistry reg;
  Graph g{&reg};
  Output x, y, logits, loss;
  SmallModel() {
    REQUIRE(RegisterStandardOps(&reg).ok());
    x = Placeholder(g, DType::kFloat32, Shape{-1, 4}, "x");
    y = Placeholder(g, DType::kInt32, Shape{-1}, "y");
    Output w1;
    {
      DeviceScope d(g, "/job:worker/device:cpu:1");
      w1 = Variable(g, "W1", Shape{4, 8}, Kind(InitializerKind::kHeNormal, 1));
    }
    Output w2 = Variable(g, "W2", Shape{8, 3}, Kind(InitializerKind::kGlorotUniform, 2));
    logits = MatMul(Relu(MatMul(x, w1)), w2);
    loss = ReduceMean(SparseSoftmaxCrossEntropyWithLogits(logits, y));
    REQUIRE(g.status().ok());
    g.roles().inputs = {{x.node, "images"}, {y.node, "labels"}};
    g.roles().loss = loss;
    g.roles().metrics = {{"accuracy", "accuracy", {logits, y}}, {"mean_loss", "mean", {loss}}};
  }
};

}  // namespace

TEST_CASE("he_normal draws exactly the normal of stddev sqrt(2 / fan_in) with the same seed") {
  InitializerSpec he = Kind(InitializerKind::kHeNormal, 3);
  InitializerSpec normal = Kind(InitializerKind::kNormal, 3);
  normal.stddev = std::sqrt(2.0 / 50);
  CHECK(kernels::Initialize(he, Shape{50, 20}, 0, 50).ToVector<float>() ==
        kernels::Initialize(normal, Shape{50, 20}, 0, 50).ToVector<float>());
}

TEST_CASE("the new initializers stay in their bounds and split by rows like the whole") {
  const Shape shape{3, 3, 16, 32};  // a conv filter: fan_in 144, fan_out 288
  auto max_abs = [&](InitializerSpec s) {
    float m = 0;
    for (float v : kernels::Initialize(s, shape, 0, 3).ToVector<float>()) m = std::max(m, std::abs(v));
    return m;
  };
  CHECK(max_abs(Kind(InitializerKind::kHeUniform)) <= std::sqrt(6.0 / 144) + 1e-6);
  CHECK(max_abs(Kind(InitializerKind::kHeUniform)) > 0.9 * std::sqrt(6.0 / 144));
  CHECK(max_abs(Kind(InitializerKind::kGlorotUniform)) <= std::sqrt(6.0 / (144 + 288)) + 1e-6);
  InitializerSpec tn = Kind(InitializerKind::kTruncatedNormal);
  tn.mean = 1;
  tn.stddev = 0.5;
  std::vector<float> all = kernels::Initialize(tn, shape, 0, 3).ToVector<float>();
  for (float v : all) REQUIRE(std::abs(v - 1) <= 2 * 0.5 + 1e-6);
  std::vector<float> tail = kernels::Initialize(tn, shape, 1, 3).ToVector<float>();
  CHECK(std::equal(tail.begin(), tail.end(), all.begin() + 3 * 16 * 32));
  // glorot_normal: the sample variance is near 2 / (fan_in + fan_out).
  double sq = 0;
  std::vector<float> gn = kernels::Initialize(Kind(InitializerKind::kGlorotNormal), shape, 0, 3).ToVector<float>();
  for (float v : gn) sq += double(v) * v;
  CHECK(sq / gn.size() == Approx(2.0 / (144 + 288)).epsilon(0.1));
  CHECK(kernels::ParseInitializerKind("truncated_normal").ok());
  CHECK(kernels::ParseInitializerKind("lecun").status().message().find("he_normal") != std::string::npos);
}

TEST_CASE("a saved graph keeps its initializers, requested devices and roles") {
  SmallModel m;
  REQUIRE(ValidateModel(m.g).ok());
  auto bytes = SerializeGraph(m.g);
  REQUIRE(bytes.ok());
  auto loaded = DeserializeGraph(*bytes, &m.reg);
  REQUIRE(loaded.ok());
  const Graph& g = **loaded;
  CHECK(ValidateModel(g).ok());
  Node* w1 = g.FindNode("W1");
  REQUIRE(w1 != nullptr);
  CHECK(w1->requested_device() == "/job:worker/device:cpu:1");
  auto init = InitializerFromAttrs(w1->attrs());
  REQUIRE(init.ok());
  REQUIRE(init->has_value());
  CHECK((*init)->kind == InitializerKind::kHeNormal);
  CHECK((*init)->seed == 1);
  REQUIRE(g.roles().inputs.size() == 2);
  CHECK(g.roles().inputs[0].placeholder->name() == "x");
  CHECK(g.roles().inputs[1].column == "labels");
  CHECK(g.roles().loss.node->name() == m.loss.node->name());
  REQUIRE(g.roles().metrics.size() == 2);
  CHECK(g.roles().metrics[0].kind == "accuracy");
  CHECK(g.roles().metrics[0].tensors[1].node->name() == "y");
}

TEST_CASE("placement honours a request that leaves out the job or the task") {
  SmallModel m;
  Node* b = m.g.AddNodeOrRecord(NodeSpec{"Identity", "on_cpu1", {m.x}, {}, {}, "/device:cpu:1"});
  REQUIRE(b != nullptr);
  PlacementOptions o;
  o.ps_tasks = {"/job:ps/task:0"};
  o.worker_devices = {"/job:worker/task:1/device:cpu:0", "/job:worker/task:1/device:cpu:1"};
  o.default_device = "/job:worker/task:1/device:cpu:0";
  REQUIRE(PlaceGraph(&m.g, o).ok());
  CHECK(m.g.FindNode("W1")->assigned_device() == "/job:worker/task:1/device:cpu:1");
  CHECK(b->assigned_device() == "/job:worker/task:1/device:cpu:1");
  CHECK(m.g.FindNode("W2")->assigned_device() == "/job:ps/task:0");

  Node* far = m.g.AddNodeOrRecord(NodeSpec{"Identity", "far", {m.x}, {}, {}, "/device:gpu:3"});
  REQUIRE(far != nullptr);
  Status s = PlaceGraph(&m.g, o);
  CHECK(s.message().find("node 'far' (op Identity)") != std::string::npos);
  CHECK(s.message().find("/device:gpu:3") != std::string::npos);
}

TEST_CASE("an initializer that does not fit its variable is refused naming the node") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  Graph g(&reg);
  Variable(g, "steps", Shape{2}, Kind(InitializerKind::kHeNormal), DType::kInt32);
  CHECK(g.status().message().find("node 'steps' (op Variable)") != std::string::npos);
  CHECK(g.status().message().find("float32") != std::string::npos);

  Graph g2(&reg);
  InitializerSpec bad = Kind(InitializerKind::kUniform);
  bad.min = 1;
  bad.max = -1;
  Variable(g2, "u", Shape{2}, bad);
  CHECK(g2.status().message().find("node 'u' (op Variable)") != std::string::npos);
  CHECK(g2.status().message().find("min <= max") != std::string::npos);

  Graph g3(&reg);
  AttrMap attrs{{"var_name", std::string("v")}, {"dtype", DType::kFloat32}, {"shape", Shape{2}},
                {"init", std::string("normal")}};  // no init_seed, mean, stddev
  auto n = g3.AddNode(NodeSpec{"Variable", "v", {}, {}, attrs, ""});
  REQUIRE_FALSE(n.ok());
  CHECK(n.status().message().find("node 'v' (op Variable)") != std::string::npos);
  CHECK(n.status().message().find("init_seed") != std::string::npos);
}

TEST_CASE("a model lacking a role or an initializer is refused with the node named") {
  SECTION("a variable without an initializer") {
    SmallModel m;
    Variable(m.g, "bias", Shape{3});
    Status s = ValidateModel(m.g);
    CHECK(s.message().find("node 'bias' (op Variable)") != std::string::npos);
    CHECK(s.message().find("no initializer") != std::string::npos);
  }
  SECTION("no loss") {
    SmallModel m;
    m.g.roles().loss = {};
    CHECK(ValidateModel(m.g).message().find("no loss") != std::string::npos);
  }
  SECTION("a loss that is not a scalar") {
    SmallModel m;
    m.g.roles().loss = m.logits;
    Status s = ValidateModel(m.g);
    CHECK(s.message().find("node '" + m.logits.node->name() + "' (op MatMul)") != std::string::npos);
    CHECK(s.message().find("float32 scalar") != std::string::npos);
  }
  SECTION("no inputs, or an input that is not a placeholder") {
    SmallModel m;
    m.g.roles().inputs.clear();
    CHECK(ValidateModel(m.g).message().find("no inputs") != std::string::npos);
    m.g.roles().inputs = {{m.logits.node, "images"}};
    CHECK(ValidateModel(m.g).message().find("is named as an input but is not a Placeholder") != std::string::npos);
    m.g.roles().inputs = {{m.x.node, "images"}, {m.y.node, "images"}};
    CHECK(ValidateModel(m.g).message().find("data column 'images' already feeds") != std::string::npos);
  }
  SECTION("a metric of the wrong kind or tensors") {
    SmallModel m;
    m.g.roles().metrics = {{"acc", "accuracy", {m.logits, m.logits}}};
    Status s = ValidateModel(m.g);
    CHECK(s.message().find("metric 'acc'") != std::string::npos);
    CHECK(s.message().find("labels") != std::string::npos);
    m.g.roles().metrics = {{"f1", "f1", {m.loss}}};
    CHECK(ValidateModel(m.g).message().find("unknown metric kind 'f1'") != std::string::npos);
  }
  SECTION("a saved graph whose role names a node it lacks") {
    SmallModel m;
    auto bytes = SerializeGraph(m.g);
    REQUIRE(bytes.ok());
    // Rename the loss's node in the bytes: the reference no longer resolves.
    std::string name = m.loss.node->name();
    std::string edited = *bytes;
    size_t last = edited.rfind(name);
    REQUIRE(last != std::string::npos);
    edited[last] = 'Z';
    auto loaded = DeserializeGraph(edited, &m.reg);
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.status().message().find("graph def roles") != std::string::npos);
    CHECK(loaded.status().message().find("which is not an output of the graph") != std::string::npos);
  }
}

TEST_CASE("a state role is saved with the graph, and a malformed one is refused naming the node") {
  SmallModel m;
  Output h0 = Placeholder(m.g, DType::kFloat32, Shape{-1, 4}, "h0");
  Output h = Tanh(m.x + h0);
  REQUIRE(m.g.status().ok());
  m.g.roles().states = {{h0.node, h}};
  REQUIRE(ValidateModel(m.g).ok());
  CHECK(IsStateInput(m.g, *h0.node));
  CHECK_FALSE(IsStateInput(m.g, *m.x.node));
  auto bytes = SerializeGraph(m.g);
  REQUIRE(bytes.ok());
  auto loaded = DeserializeGraph(*bytes, &m.reg);
  REQUIRE(loaded.ok());
  const Graph& g = **loaded;
  REQUIRE(g.roles().states.size() == 1);
  CHECK(g.roles().states[0].initial->name() == "h0");
  CHECK(g.roles().states[0].final.node->name() == h.node->name());
  CHECK(ValidateModel(g).ok());

  m.g.roles().states = {{h0.node, m.logits}};  // [?, 3] is not the state's [?, 4]
  CHECK_THAT(ValidateModel(m.g).message(), Catch::Contains("node 'h0' (op Placeholder): state: the final value"));
  m.g.roles().states = {{h.node, h}};
  CHECK_THAT(ValidateModel(m.g).message(), Catch::Contains("its initial value is not a Placeholder"));
  Output fixed = Placeholder(m.g, DType::kFloat32, Shape{2, 4}, "fixed");
  m.g.roles().states = {{fixed.node, h}};
  CHECK_THAT(ValidateModel(m.g).message(), Catch::Contains("must be float32 [-1, ...] (the batch first)"));
}

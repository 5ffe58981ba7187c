// A model whose layers ask for devices runs as one model-parallel replica
// over a worker's devices: the same numbers as on one device (the layered
// LSTM benchmark model and the built-in lstm_lm with a split softmax), every layer
// (forward and backward) on its device, a device the worker lacks refused
// naming the node unless soft placement is on.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>

#include "bench/layered_lstm.h"
#include "bench/model_parallel_bench.h"
#include "core/thread_pool.h"
#include "graph/device.h"
#include "graph/graph_def.h"
#include "worker/local_model.h"
#include "worker/replica_devices.h"

using namespace flowps;

namespace {

std::string Cpu(int i) { return "/job:worker/task:0/device:cpu:" + std::to_string(i); }

// The graph of a small layered LSTM (layer d asks for cpu:d), as GraphDef bytes.
std::string LstmBytes(LayeredLstmOptions o = {}) {
  o.features = 6;
  o.hidden = 8;
  o.steps = 3;
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  auto g = BuildLayeredLstm(o, &registry);
  REQUIRE(g.ok());
  auto bytes = SerializeGraph(**g);
  REQUIRE(bytes.ok());
  return *bytes;
}

// A worker's model on `n` CPU devices.
struct Worker {
  std::unique_ptr<ThreadPool> pool = NewAsioThreadPool(4);
  std::vector<std::unique_ptr<Device>> devices;
  StatusOr<std::unique_ptr<LocalModel>> model = Unavailable("not built");

  Worker(const std::string& bytes, int n, bool soft, TowerOptions towers = {})
      : Worker(GraphFileSpec(bytes), n, soft, std::move(towers)) {}

  Worker(ModelSpec spec, int n, bool soft, TowerOptions towers = {}) {
    for (int i = 0; i < n; ++i) {
      devices.push_back(std::make_unique<CpuDevice>(Cpu(i)));
      towers.devices.push_back(devices.back().get());
    }
    spec.soft_placement = soft;
    model = LocalModel::Create(spec, OptimizerConfig{}, pool.get(), towers);
  }

  static ModelSpec GraphFileSpec(const std::string& bytes) {
    ModelSpec spec;
    spec.kind = ModelKind::kGraphFile;
    spec.graph_def = bytes;
    return spec;
  }
};

using Feeds = std::vector<std::pair<std::string, Tensor>>;

// A fixed batch (the model learns it by heart): x [8, 18], labels 0..7.
Feeds Batch() {
  Tensor x(DType::kFloat32, Shape{8, 18});
  Tensor y(DType::kInt32, Shape{8});
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = static_cast<float>((i * 7) % 13) / 13.f;
  for (int64_t i = 0; i < 8; ++i) y.data<int32_t>()[i] = static_cast<int32_t>(i);
  return {{"x", x}, {"y", y}};
}

// `steps` steps of SGD (learning rate `rate`) on `batch` from the model's
// initial values; the loss of each step. A sparse gradient updates its rows.
std::vector<double> LossCurve(LocalModel& model, int steps, const Feeds& batch = Batch(), float rate = 0.5f) {
  std::map<std::string, Tensor> values;
  for (const ModelVariable& v : model.model().variables) values[v.name] = v.initial_value.Clone();
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    REQUIRE(model.SetVariables(values).ok());
    auto g = model.ComputeGradients(batch);
    INFO(g.status().ToString());
    REQUIRE(g.ok());
    losses.push_back(g->loss);
    for (const VariableGradient& grad : g->grads) {
      Tensor& v = values.at(grad.variable);
      const int64_t row = grad.sparse ? v.num_elements() / v.shape().dim(0) : 0;
      for (int64_t i = 0; i < grad.values.num_elements(); ++i) {
        const int64_t at = grad.sparse ? grad.rows[static_cast<size_t>(i / row)] * row + i % row : i;
        v.data<float>()[at] -= rate * grad.values.data<float>()[i];
      }
    }
  }
  return losses;
}

// The built-in lstm_lm in the slide's shape, small: 4 layers, layer d asking
// for cpu:d, the softmax split in 4 parts, part p on cpu:p.
ModelSpec SplitLstmLm() {
  ModelSpec spec;
  spec.kind = ModelKind::kLstmLm;
  spec.vocab = 12;
  spec.embedding = 4;
  spec.layers = 4;
  spec.hidden_size = 8;
  spec.unroll = 6;
  spec.softmax_parts = 4;
  spec.seed = 7;
  for (int d = 0; d < 4; ++d) {
    spec.layer_devices.push_back("/device:cpu:" + std::to_string(d));
    spec.softmax_devices.push_back("/device:cpu:" + std::to_string(d));
  }
  return spec;
}

// 4 sequences of a repeating text over the 12 tokens, targets the next tokens.
Feeds TextBatch() {
  Tensor tokens(DType::kInt32, Shape{4, 6}), targets(DType::kInt32, Shape{4, 6});
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t t = 0; t < 6; ++t) {
      tokens.data<int32_t>()[n * 6 + t] = static_cast<int32_t>((n * 5 + t) % 12);
      targets.data<int32_t>()[n * 6 + t] = static_cast<int32_t>((n * 5 + t + 1) % 12);
    }
  return {{"tokens", tokens}, {"targets", targets}};
}

}  // namespace

TEST_CASE("a layered LSTM follows the same loss curve on 1 device and on 4 devices for 20 steps") {
  const std::string bytes = LstmBytes();
  Worker one(bytes, 1, /*soft=*/true), four(bytes, 4, /*soft=*/false);
  REQUIRE(one.model.ok());
  REQUIRE(four.model.ok());
  CHECK((*one.model)->tower_partitions().size() == 1);
  CHECK((*four.model)->tower_partitions().size() == 4);
  std::vector<double> a = LossCurve(**one.model, 20), b = LossCurve(**four.model, 20);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("step " << i);
    CHECK(b[i] == Approx(a[i]).epsilon(1e-5));
  }
  CHECK(a.back() < a.front() - 0.1);  // it learns: the curve is not flat
}

TEST_CASE("the built-in lstm_lm with a split softmax follows the same loss curve on 1 device and with its layers "
          "and softmax parts on 4 devices for 20 steps") {
  Worker one(SplitLstmLm(), 1, /*soft=*/true), four(SplitLstmLm(), 4, /*soft=*/false);
  REQUIRE(one.model.ok());
  INFO(four.model.status().ToString());
  REQUIRE(four.model.ok());
  CHECK((*one.model)->tower_partitions().size() == 1);
  CHECK((*four.model)->model_parallel());
  CHECK((*four.model)->tower_partitions().size() == 4);
  std::vector<double> a = LossCurve(**one.model, 20, TextBatch(), 4.f), b = LossCurve(**four.model, 20, TextBatch(), 4.f);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("step " << i);
    CHECK(b[i] == Approx(a[i]).epsilon(1e-5));
  }
  CHECK(a.back() < a.front() - 0.05);  // it learns (4 layers start slowly): the curve is not flat
}

TEST_CASE("a model-parallel model is one replica: each layer's forward and backward pass on its device") {
  Worker four(LstmBytes(), 4, false);
  REQUIRE(four.model.ok());
  LocalModel& m = **four.model;
  CHECK(m.model_parallel());
  CHECK(m.num_towers() == 1);
  for (int d = 0; d < 4; ++d) {
    INFO("device " << d);
    const Graph& part = *m.tower_partitions().at(Cpu(d));
    int forward = 0, backward = 0, other_layers = 0;
    for (const auto& n : part.nodes()) {
      const std::string& name = n->name();
      if (n->op() == "Send" || n->op() == "Recv") continue;
      if (name.rfind("gradients/", 0) == 0) ++backward;
      else if (name.rfind("tower0/layer" + std::to_string(d) + "/", 0) == 0) ++forward;
      else if (name.rfind("tower0/layer", 0) == 0) ++other_layers;
    }
    CHECK(forward > 0);
    CHECK(backward > 0);
    CHECK(other_layers == 0);
  }
}

TEST_CASE("a model on a worker of 1 device is refused naming a node that asks for a missing device") {
  Worker one(LstmBytes(), 1, /*soft=*/false);
  REQUIRE_FALSE(one.model.ok());
  CHECK_THAT(one.model.status().message(),
             Catch::Contains("placing the model-parallel replica") && Catch::Contains("node 'layer1/") &&
                 Catch::Contains("asks for device '/device:cpu:1', which worker /job:worker/task:0 lacks "
                                 "(its devices: [cpu:0])") &&
                 Catch::Contains("model.soft_placement: true"));
}

TEST_CASE("a layer asking for gpu:N runs on the CPU device that stands in for that GPU") {
  const std::string bytes = LstmBytes();
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  auto g = DeserializeGraph(bytes, &registry);
  REQUIRE(g.ok());
  Graph copy(&registry);  // the same model, its layers on "/gpu:d"
  for (const auto& n : (*g)->nodes()) {
    std::string device = n->requested_device();
    if (!device.empty()) device = "/gpu:" + device.substr(device.rfind(':') + 1);
    NodeSpec spec{n->op(), n->name(), {}, {}, n->attrs(), device};
    for (const Output& in : n->inputs()) spec.inputs.push_back(copy.FindNode(in.node->name())->output(in.index));
    REQUIRE(copy.AddNode(spec).ok());
  }
  copy.roles().inputs = {{copy.FindNode("x"), "features"}, {copy.FindNode("y"), "label"}};
  copy.roles().loss = *copy.FindOutput((*g)->roles().loss.name());
  auto gpu_bytes = SerializeGraph(copy);
  REQUIRE(gpu_bytes.ok());
  TowerOptions towers;
  for (int i = 0; i < 4; ++i) towers.stand_ins["/job:worker/task:0/device:gpu:" + std::to_string(i)] = Cpu(i);
  Worker four(*gpu_bytes, 4, false, towers);
  REQUIRE(four.model.ok());
  CHECK((*four.model)->tower_partitions().size() == 4);
}

TEST_CASE("the chief's check names the worker task that lacks a device a node asks for") {
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  auto g = DeserializeGraph(LstmBytes(), &registry);
  REQUIRE(g.ok());
  TaskSpec worker;
  worker.job = "worker";
  worker.index = 1;
  worker.devices = {"cpu:0", "cpu:1", "cpu:2", "cpu:3"};
  CHECK(CheckReplicaDevices(**g, worker).ok());
  worker.devices = {"cpu:0", "cpu:1"};
  Status s = CheckReplicaDevices(**g, worker);
  REQUIRE_FALSE(s.ok());
  CHECK_THAT(s.message(), Catch::Contains("node 'layer2/") && Catch::Contains("'/device:cpu:2'") &&
                              Catch::Contains("/job:worker/task:1 lacks") && Catch::Contains("[cpu:0, cpu:1]"));
}

TEST_CASE("a node that asks for a device of another job is refused: every worker runs the whole model") {
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  Graph g(&registry);
  Node* n = *g.AddNode(NodeSpec{"Placeholder", "x", {}, {}, {{"dtype", DType::kFloat32}, {"shape", Shape{2}}},
                                "/job:ps/task:0"});
  auto host = ParseDeviceName(Cpu(0));
  REQUIRE(host.ok());
  auto d = ReplicaDevice(*n, *host);
  REQUIRE_FALSE(d.ok());
  CHECK_THAT(d.status().message(), Catch::Contains("node 'x' (op Placeholder)") && Catch::Contains("job 'ps'"));
  n = *g.AddNode(NodeSpec{"Placeholder", "z", {}, {}, {{"dtype", DType::kFloat32}, {"shape", Shape{2}}},
                          "/job:worker/task:3/gpu:1"});
  CHECK(*ReplicaDevice(*n, *host) == "/job:worker/task:0/device:gpu:1");
}

TEST_CASE("a model without device requests keeps one tower per device") {
  Worker four(LstmBytes(LayeredLstmOptions{.devices = 0}), 4, false);
  REQUIRE(four.model.ok());
  CHECK_FALSE((*four.model)->model_parallel());
  CHECK((*four.model)->num_towers() == 4);
}

TEST_CASE("the model-parallel benchmark times 1 against N devices and writes a trace with a track per device") {
  auto pool = NewAsioThreadPool(2);
  const std::string trace = "/tmp/flowps_model_parallel_bench_test_" + std::to_string(::getpid()) + ".json";
  std::vector<Measurement> got;
  BenchContext ctx;
  ctx.pool = pool.get();
  ctx.options = {{"steps", "2"},  {"warmup", "1"}, {"layers", "2"}, {"time_steps", "2"},
                 {"hidden", "8"}, {"batch", "4"},  {"devices", "2"}, {"trace", trace}};
  ctx.emit = [&](const Measurement& m) { got.push_back(m); };
  REQUIRE(MakeModelParallelBenchmark().run(ctx).ok());
  REQUIRE(got.size() == 2);
  CHECK(got[0].name == "lstm_2x2_h8_b4_step_2dev_median_us");
  CHECK(got[0].baseline_name == std::optional<std::string>("lstm_2x2_h8_b4_step_1dev_median_us"));
  CHECK(got[0].value > 0);
  CHECK(got[1].value >= 0);
  CHECK(got[1].value <= 1);
  std::ifstream in(trace);
  std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::remove(trace.c_str());
  CHECK_THAT(json, Catch::Contains("\"traceEvents\"") && Catch::Contains(Cpu(0)) && Catch::Contains(Cpu(1)));

  ctx.options = {{"devcies", "2"}};
  CHECK_THAT(MakeModelParallelBenchmark().run(ctx).message(), Catch::Contains("devcies"));
}

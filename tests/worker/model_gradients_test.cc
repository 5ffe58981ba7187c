// LocalModel as a distributed worker uses it: gradients without applying them,
// split into towers on the worker's devices, and variable values set from a pull.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <cmath>
#include <filesystem>
#include <random>
#include <utility>

#include "core/thread_pool.h"
#include "graph/device.h"
#include "graph/graph_def.h"
#include "graph/model_roles.h"
#include "graph/ops.h"
#include "worker/local_model.h"

using namespace flowps;

namespace {

struct Batch {
  Tensor images, labels;
};

Batch RandomBatch(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> pixel(0.f, 1.f);
  std::uniform_int_distribution<int32_t> label(0, 9);
  Batch b{Tensor(DType::kFloat32, Shape{n, kImageFeatures}), Tensor(DType::kInt32, Shape{n})};
  for (int64_t i = 0; i < b.images.num_elements(); ++i) b.images.data<float>()[i] = pixel(rng);
  for (int64_t i = 0; i < n; ++i) b.labels.data<int32_t>()[i] = label(rng);
  return b;
}

std::unique_ptr<LocalModel> SmallMlp(ThreadPool* pool, const std::vector<Device*>& devices = {}) {
  ModelSpec spec;
  spec.kind = ModelKind::kMlp;
  spec.hidden = {16};
  OptimizerConfig optimizer;
  TowerOptions towers;
  towers.devices = devices;
  auto m = LocalModel::Create(spec, optimizer, pool, towers);
  INFO(m.status().ToString());
  REQUIRE(m.ok());
  return std::move(m).value();
}

std::string CpuName(int i) { return "/job:worker/task:0/device:cpu:" + std::to_string(i); }

int CountOps(const Graph& g, const std::string& op) {
  int n = 0;
  for (const auto& node : g.nodes()) n += node->op() == op;
  return n;
}

}  // namespace

// The largest difference between two gradients' values, and the largest value of `a`.
std::pair<double, double> Compare(const Tensor& a, const Tensor& b) {
  double worst = 0, largest = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i) {
    worst = std::max(worst, static_cast<double>(std::abs(a.data<float>()[i] - b.data<float>()[i])));
    largest = std::max(largest, static_cast<double>(std::abs(a.data<float>()[i])));
  }
  return {worst, largest};
}

TEST_CASE("a worker with devices [cpu:0, cpu:1] (or three) computes the whole batch's gradients") {
  auto pool = NewAsioThreadPool(2);
  auto single = SmallMlp(pool.get());
  CpuDevice cpu0(CpuName(0)), cpu1(CpuName(1)), cpu2(CpuName(2));
  const std::vector<std::vector<Device*>> configs = {{&cpu0, &cpu1}, {&cpu0, &cpu1, &cpu2}};
  // 13 rows: towers of 6 and 7 (or 4, 4, 5); 2 rows over 3 towers: the whole
  // batch on every tower, weighted equally.
  for (int64_t rows : {13, 2}) {
    Batch batch = RandomBatch(rows, 7);
    auto whole = single->ComputeGradients(batch.images, batch.labels);
    REQUIRE(whole.ok());
    for (const std::vector<Device*>& devices : configs) {
      auto model = SmallMlp(pool.get(), devices);
      REQUIRE(model->num_towers() == static_cast<int>(devices.size()));
      auto split = model->ComputeGradients(batch.images, batch.labels);
      INFO(rows << " rows on " << devices.size() << " devices: " << split.status().ToString());
      REQUIRE(split.ok());
      CHECK(split->loss == Approx(whole->loss).epsilon(1e-5));
      REQUIRE(split->grads.size() == whole->grads.size());
      for (size_t v = 0; v < whole->grads.size(); ++v) {
        const Tensor& a = whole->grads[v].values;
        const Tensor& b = split->grads[v].values;
        INFO(whole->grads[v].variable);
        REQUIRE(a.shape().dims() == b.shape().dims());
        auto [worst, largest] = Compare(a, b);
        CHECK(worst < 1e-5);
        CHECK(largest > 1e-6);  // a real gradient, not zeros on both sides
      }
    }
  }
}

TEST_CASE("the tower graph has one partition per device, each running its tower's forward and backward") {
  auto pool = NewAsioThreadPool(2);
  CpuDevice cpu0(CpuName(0)), cpu1(CpuName(1));
  auto model = SmallMlp(pool.get(), {&cpu0, &cpu1});
  const auto& parts = model->tower_partitions();
  REQUIRE(parts.size() == 2);
  REQUIRE(parts.count(CpuName(0)) == 1);
  REQUIRE(parts.count(CpuName(1)) == 1);
  for (const auto& [device, graph] : parts) {
    INFO(device);
    // Two layers: two forward products and three backward ones (the input
    // gets no gradient), per tower.
    CHECK(CountOps(*graph, "MatMul") >= 4);
    CHECK(CountOps(*graph, "SparseSoftmaxCrossEntropyWithLogits") == 1);
  }
  // The variables are read on the first device and sent to the second; its
  // gradients come back to be averaged there.
  CHECK(CountOps(*parts.at(CpuName(0)), "Variable") == 4);
  CHECK(CountOps(*parts.at(CpuName(1)), "Variable") == 0);
  CHECK(CountOps(*parts.at(CpuName(1)), "Recv") >= 4);
  CHECK(CountOps(*parts.at(CpuName(1)), "Send") >= 5);  // four gradients and the loss
}

TEST_CASE("a device named twice is refused at creation") {
  auto pool = NewAsioThreadPool(1);
  CpuDevice cpu0(CpuName(0)), again(CpuName(0));
  ModelSpec spec;
  spec.kind = ModelKind::kSoftmax;
  TowerOptions towers;
  towers.devices = {&cpu0, &again};
  auto m = LocalModel::Create(spec, OptimizerConfig{}, pool.get(), towers);
  CHECK(m.status().code() == Code::kInvalidArgument);
  CHECK_THAT(m.status().message(), Catch::Contains(CpuName(0)));
}

TEST_CASE("setting variables from a pull changes the gradients; a wrong shape changes nothing") {
  auto pool = NewAsioThreadPool(2);
  auto model = SmallMlp(pool.get());
  Batch batch = RandomBatch(8, 3);
  auto before = model->ComputeGradients(batch.images, batch.labels);
  REQUIRE(before.ok());

  const ModelVariable& first = model->model().variables[0];
  Tensor wrong = Tensor::Zeros(DType::kFloat32, Shape{3});
  Status refused = model->SetVariables({{first.name, wrong}});
  CHECK(refused.code() == Code::kInvalidArgument);
  CHECK_THAT(refused.message(), Catch::Contains(first.name));
  auto same = model->ComputeGradients(batch.images, batch.labels);
  REQUIRE(same.ok());
  CHECK(same->loss == Approx(before->loss));

  std::map<std::string, Tensor> zeros;
  for (const ModelVariable& v : model->model().variables) zeros[v.name] = Tensor::Zeros(DType::kFloat32, v.initial_value.shape());
  REQUIRE(model->SetVariables(zeros).ok());
  auto after = model->ComputeGradients(batch.images, batch.labels);
  REQUIRE(after.ok());
  // Every weight zero: the logits are zero, so the loss is ln(10).
  CHECK(after->loss == Approx(std::log(10.0)).epsilon(1e-5));
}

TEST_CASE("adopted values are the variables themselves, released only by the model's owner thread; a released "
          "model refuses to compute until values are loaded again") {
  auto pool = NewAsioThreadPool(2);
  auto model = SmallMlp(pool.get());
  Batch batch = RandomBatch(8, 3);
  // Each value's memory is kept alive by an owner that records where it is released.
  std::atomic<int> released{0};
  std::atomic<bool> released_elsewhere{false};
  const std::thread::id me = std::this_thread::get_id();
  std::map<std::string, Tensor> zeros;
  std::vector<float*> memory;
  for (const ModelVariable& v : model->model().variables) {
    const Shape& shape = v.initial_value.shape();
    auto owner = std::shared_ptr<std::vector<float>>(
        new std::vector<float>(static_cast<size_t>(shape.num_elements()), 0.f), [&, me](std::vector<float>* p) {
          ++released;
          if (std::this_thread::get_id() != me) released_elsewhere = true;
          delete p;
        });
    memory.push_back(owner->data());
    zeros[v.name] = Tensor(DType::kFloat32, shape, Buffer::Wrap(owner->data(), owner->size() * sizeof(float), owner));
  }
  REQUIRE(model->AdoptVariables(std::move(zeros)).ok());
  auto at_zero = model->ComputeGradients(batch.images, batch.labels);
  REQUIRE(at_zero.ok());
  CHECK(at_zero->loss == Approx(std::log(10.0)).epsilon(1e-5));  // every weight zero: the logits are zero
  // Not a copy: the model reads the adopted memory itself.
  memory.back()[0] = 5.f;  // a bias of the output layer
  auto moved = model->ComputeGradients(batch.images, batch.labels);
  REQUIRE(moved.ok());
  CHECK(moved->loss != Approx(at_zero->loss));
  // No gradient points into adopted memory, so each outlives the release.
  for (const VariableGradient& g : moved->grads)
    for (size_t i = 0; i < memory.size(); ++i) CHECK(g.values.raw_data() != static_cast<void*>(memory[i]));

  CHECK(released == 0);  // the steps' kernels, on the pool, released nothing
  model->ReleaseVariables();
  CHECK(released == static_cast<int>(memory.size()));
  CHECK_FALSE(released_elsewhere);

  auto refused = model->ComputeGradients(batch.images, batch.labels);
  CHECK(refused.status().code() == Code::kFailedPrecondition);
  CHECK_THAT(refused.status().message(), Catch::Contains(model->model().variables[0].name));
  CHECK(moved->grads[0].values.data<float>()[0] == moved->grads[0].values.data<float>()[0]);  // still readable

  // Copied values (SetVariables) go into buffers of the model's own again.
  std::map<std::string, Tensor> again;
  for (const ModelVariable& v : model->model().variables) {
    CHECK(v.initial_value.raw_data() == nullptr);  // the drawn values' memory went with the first adoption
    again[v.name] = Tensor::Zeros(DType::kFloat32, v.initial_value.shape());
  }
  REQUIRE(model->SetVariables(again).ok());
  auto reloaded = model->ComputeGradients(batch.images, batch.labels);
  REQUIRE(reloaded.ok());
  CHECK(reloaded->loss == Approx(at_zero->loss));
}

TEST_CASE("a model with a sparse (Gather) gradient gets the towers' rows, scaled, equal to the whole batch's") {
  // logits = x W + table[y]: the gradient of `table` is one row per example.
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  Graph g(&reg);
  Output x = Placeholder(g, DType::kFloat32, Shape{-1, kImageFeatures}, "x");
  Output y = Placeholder(g, DType::kInt32, Shape{-1}, "y");
  Output w = Variable(g, "W", Shape{kImageFeatures, kNumClasses}, kernels::InitializerSpec{});
  kernels::InitializerSpec uniform;
  uniform.kind = kernels::InitializerKind::kUniform;
  uniform.min = 0, uniform.max = 0.16, uniform.seed = 7;
  Output table = Variable(g, "table", Shape{kNumClasses, kNumClasses}, uniform);
  Output logits = Identity(MatMul(x, w) + Gather(table, y));
  Output loss = Identity(ReduceMean(SparseSoftmaxCrossEntropyWithLogits(logits, y)));
  g.AddNodeOrRecord(NodeSpec{"Identity", "logits", {logits}, {}, {}, ""});
  Node* loss_node = g.AddNodeOrRecord(NodeSpec{"Identity", "loss", {loss}, {}, {}, ""});
  REQUIRE(g.status().ok());
  g.roles().inputs = {{x.node, "features"}, {y.node, "label"}};
  g.roles().loss = loss_node->output(0);
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("flowps_towers_" + std::to_string(::getpid()) + ".fgraph")).string();
  REQUIRE(WriteGraphFile(g, path).ok());
  ModelSpec spec;
  spec.kind = ModelKind::kGraphFile;
  spec.graph_file = path;

  auto pool = NewAsioThreadPool(2);
  CpuDevice cpu0(CpuName(0)), cpu1(CpuName(1));
  TowerOptions two;
  two.devices = {&cpu0, &cpu1};
  auto single = LocalModel::Create(spec, OptimizerConfig{}, pool.get());
  auto split = LocalModel::Create(spec, OptimizerConfig{}, pool.get(), two);
  std::filesystem::remove(path);
  INFO(single.status().ToString() << " / " << split.status().ToString());
  REQUIRE((single.ok() && split.ok()));

  Batch batch = RandomBatch(11, 5);
  auto a = (*single)->ComputeGradients(batch.images, batch.labels);
  auto b = (*split)->ComputeGradients(batch.images, batch.labels);
  INFO(a.status().ToString() << " / " << b.status().ToString());
  REQUIRE((a.ok() && b.ok()));
  CHECK(b->loss == Approx(a->loss).epsilon(1e-5));
  REQUIRE(a->grads.size() == 2);
  for (size_t v = 0; v < a->grads.size(); ++v) {
    INFO(a->grads[v].variable);
    CHECK(b->grads[v].sparse == a->grads[v].sparse);
    CHECK(b->grads[v].rows == a->grads[v].rows);
    REQUIRE(a->grads[v].values.shape().dims() == b->grads[v].values.shape().dims());
    auto [worst, largest] = Compare(a->grads[v].values, b->grads[v].values);
    CHECK(worst < 1e-6);
    CHECK(largest > 1e-4);
  }
  const VariableGradient& sparse = a->grads[0].variable == "table" ? a->grads[0] : a->grads[1];
  CHECK(sparse.sparse);
  CHECK(sparse.rows.size() == 11);  // one row per example, the towers' rows in batch order
}

TEST_CASE("gradients fed by placeholder name split every feed across the towers, and a feed of another batch "
          "size or a name that is no placeholder is refused") {
  auto pool = NewAsioThreadPool(2);
  CpuDevice cpu0(CpuName(0)), cpu1(CpuName(1));
  auto model = SmallMlp(pool.get(), {&cpu0, &cpu1});
  auto single = SmallMlp(pool.get());
  Batch batch = RandomBatch(9, 3);
  auto named = model->ComputeGradients({{"x", batch.images}, {"y", batch.labels}});
  auto whole = single->ComputeGradients({{"x", batch.images}, {"y", batch.labels}});
  INFO(named.status().ToString());
  REQUIRE(named.ok());
  REQUIRE(whole.ok());
  CHECK(named->loss == Approx(whole->loss).epsilon(1e-5));

  auto uneven = model->ComputeGradients({{"x", batch.images}, {"y", batch.labels.Slice(0, 8)}});
  REQUIRE_FALSE(uneven.ok());
  CHECK_THAT(uneven.status().message(), Catch::Contains("feed 'y'") && Catch::Contains("first dimension"));
  auto unknown = model->ComputeGradients({{"pixels", batch.images}, {"y", batch.labels}});
  REQUIRE_FALSE(unknown.ok());
  CHECK_THAT(unknown.status().message(), Catch::Contains("no placeholder 'pixels'"));
}

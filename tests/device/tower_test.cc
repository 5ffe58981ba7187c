// Towers on the devices of one worker: the batch is split across two devices,
// each runs its tower (forward and gradients) in its own partition and
// executor (PartitionedRunner), and the gradients are averaged on the first device. CPU devices
// stand in for GPUs here; a GPU run differs only in the Device handed to each
// executor and in the Send/Recv kernels that then copy across the host boundary.
#include <catch2/catch.hpp>

#include <random>

#include "core/thread_pool.h"
#include "graph/device.h"
#include "graph/gradients.h"
#include "graph/ops.h"
#include "graph/partitioned_runner.h"
#include "graph/placement.h"

using namespace flowps;

namespace {

const std::string kDev0 = "/job:worker/task:0/device:cpu:0";
const std::string kDev1 = "/job:worker/task:0/device:cpu:1";
constexpr int64_t kBatch = 8, kIn = 5, kHidden = 6, kClasses = 3;

Tensor Random(Shape shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  Tensor t(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = n(rng);
  return t;
}

// An MLP's mean cross-entropy over the rows [begin, begin+rows) of the batch.
Output Loss(Output x, Output labels, Output w1, Output b1, Output w2, Output b2, int64_t begin, int64_t rows) {
  Output xs = Slice(x, {begin, 0}, {rows, -1});
  Output ls = Slice(labels, {begin}, {rows});
  Output hidden = Relu(BiasAdd(MatMul(xs, w1), b1));
  return ReduceMean(SparseSoftmaxCrossEntropyWithLogits(BiasAdd(MatMul(hidden, w2), b2), ls));
}

}  // namespace

TEST_CASE("gradients of a batch split over two device towers and averaged equal the full-batch gradients") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  Graph g(&reg);
  std::vector<Output> params, averaged, full;
  {
    DeviceScope on0(g, kDev0);
    Output x = Placeholder(g, DType::kFloat32, Shape{kBatch, kIn}, "x");
    Output labels = Placeholder(g, DType::kInt32, Shape{kBatch}, "labels");
    params = {Placeholder(g, DType::kFloat32, Shape{kIn, kHidden}, "w1"),
              Placeholder(g, DType::kFloat32, Shape{kHidden}, "b1"),
              Placeholder(g, DType::kFloat32, Shape{kHidden, kClasses}, "w2"),
              Placeholder(g, DType::kFloat32, Shape{kClasses}, "b2")};
    std::vector<std::vector<GradValue>> tower_grads;
    for (int t = 0; t < 2; ++t) {
      DeviceScope on_tower(g, t == 0 ? kDev0 : kDev1);
      Output loss = Loss(x, labels, params[0], params[1], params[2], params[3], t * kBatch / 2, kBatch / 2);
      auto grads = Gradients(loss, params);
      REQUIRE(grads.ok());
      tower_grads.push_back(*grads);
    }
    for (size_t i = 0; i < params.size(); ++i)
      averaged.push_back(Identity((DenseGradient(tower_grads[0][i], params[i]) +
                                   DenseGradient(tower_grads[1][i], params[i])) * 0.5f));
    auto full_grads = Gradients(Loss(x, labels, params[0], params[1], params[2], params[3], 0, kBatch), params);
    REQUIRE(full_grads.ok());
    for (size_t i = 0; i < params.size(); ++i) full.push_back(Identity(DenseGradient((*full_grads)[i], params[i])));
  }
  REQUIRE(g.status().ok());

  PlacementOptions placement;
  placement.worker_devices = {kDev0, kDev1};
  placement.default_device = kDev0;
  REQUIRE(PlaceGraph(&g, placement).ok());
  std::vector<std::string> fetches;
  for (const auto* list : {&averaged, &full})
    for (const Output& o : *list) fetches.push_back(o.name());

  auto pool = NewAsioThreadPool(2);
  CpuDevice dev0(kDev0), dev1(kDev1);
  auto runner = PartitionedRunner::Create(g, fetches, {}, pool.get(), {{kDev0, &dev0}, {kDev1, &dev1}});
  REQUIRE(runner.ok());
  REQUIRE((*runner)->partitions().size() == 2);
  // Tower 1 does real work on its device: its matrix products run there.
  int products_on_1 = 0;
  for (const auto& n : (*runner)->partitions().at(kDev1)->nodes()) products_on_1 += n->op() == "MatMul";
  CHECK(products_on_1 >= 3);  // forward, and the gradients of both layers

  // Step inputs, fed on device 0 (where a worker's pulled parameters arrive).
  std::vector<std::string> names = {"x", "labels", "w1", "b1", "w2", "b2"};
  std::vector<Tensor> values = {Random(Shape{kBatch, kIn}, 1),
                                Tensor::FromVector<int32_t>(Shape{kBatch}, {0, 2, 1, 1, 0, 2, 2, 1}),
                                Random(Shape{kIn, kHidden}, 2), Random(Shape{kHidden}, 3),
                                Random(Shape{kHidden, kClasses}, 4), Random(Shape{kClasses}, 5)};
  std::vector<std::pair<std::string, Tensor>> feeds;
  for (size_t i = 0; i < names.size(); ++i) feeds.emplace_back(names[i], values[i]);
  auto result = (*runner)->Run(feeds, nullptr);
  INFO(result.status().ToString());
  REQUIRE(result.ok());

  const size_t n = params.size();
  for (size_t i = 0; i < n; ++i) {
    const Tensor& avg = (*result)[i];
    const Tensor& whole = (*result)[n + i];
    INFO("gradient of " << names[2 + i]);
    REQUIRE(avg.shape() == whole.shape());
    float largest = 0.f;
    for (int64_t k = 0; k < avg.num_elements(); ++k) {
      CHECK(avg.data<float>()[k] == Approx(whole.data<float>()[k]).margin(1e-5));
      largest = std::max(largest, std::abs(whole.data<float>()[k]));
    }
    CHECK(largest > 1e-3f);  // a real gradient, not zeros on both sides
  }
}

// Towers on the devices of one worker: the batch is split across two devices,
// each runs its tower (forward and gradients) in its own partition and
// executor, and the gradients are averaged on the first device. CPU devices
// stand in for GPUs here; a GPU run differs only in the Device handed to each
// executor and in the Send/Recv kernels that then copy across the host boundary.
#include <catch2/catch.hpp>

#include <future>
#include <random>

#include "core/thread_pool.h"
#include "graph/device.h"
#include "graph/executor.h"
#include "graph/gradients.h"
#include "graph/kernel_services.h"
#include "graph/ops.h"
#include "graph/partition.h"
#include "graph/placement.h"
#include "graph/rendezvous.h"

using namespace flowps;

namespace {

const std::string kDev0 = "/job:worker/task:0/device:cpu:0";
const std::string kDev1 = "/job:worker/task:0/device:cpu:1";
constexpr int64_t kBatch = 8, kIn = 5, kHidden = 6, kClasses = 3;

// The Send/Recv of one step, over a rendezvous shared by the partitions.
class StepTransfer final : public TensorTransfer {
 public:
  StepTransfer(Rendezvous* r, int64_t step) : r_(r), step_(step) {}
  Status Send(const std::string& key, Tensor value) override { return r_->Send(step_, key, std::move(value)); }
  void RecvAsync(const std::string& key, std::function<void(StatusOr<Tensor>)> done) override {
    r_->RecvAsync(step_, key, std::move(done));
  }

 private:
  Rendezvous* r_;
  int64_t step_;
};

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
  std::vector<Node*> roots;
  for (const Output& o : averaged) roots.push_back(o.node);
  for (const Output& o : full) roots.push_back(o.node);
  auto parts = PartitionGraph(g, roots);
  REQUIRE(parts.ok());
  REQUIRE(parts->size() == 2);
  const Graph& part0 = *parts->at(kDev0);
  const Graph& part1 = *parts->at(kDev1);
  // Tower 1 does real work on its device: its matrix products run there.
  int products_on_1 = 0;
  for (const auto& n : part1.nodes()) products_on_1 += n->op() == "MatMul";
  CHECK(products_on_1 >= 3);  // forward, and the gradients of both layers

  // Step inputs, fed on device 0 (where a worker's pulled parameters arrive).
  FeedList feeds;
  std::vector<std::string> names = {"x", "labels", "w1", "b1", "w2", "b2"};
  std::vector<Tensor> values = {Random(Shape{kBatch, kIn}, 1),
                                Tensor::FromVector<int32_t>(Shape{kBatch}, {0, 2, 1, 1, 0, 2, 2, 1}),
                                Random(Shape{kIn, kHidden}, 2), Random(Shape{kHidden}, 3),
                                Random(Shape{kHidden, kClasses}, 4), Random(Shape{kClasses}, 5)};
  for (size_t i = 0; i < names.size(); ++i) feeds.emplace_back(part0.FindNode(names[i])->output(0), values[i]);
  std::vector<Output> fetches;
  for (const Output& o : averaged) fetches.push_back(part0.FindNode(o.node->name())->output(0));
  for (const Output& o : full) fetches.push_back(part0.FindNode(o.node->name())->output(0));
  // Each partition runs its Sends as targets (the other side waits for them).
  auto sends = [](const Graph& part) {
    std::vector<Node*> out;
    for (const auto& n : part.nodes())
      if (n->op() == "Send") out.push_back(n.get());
    return out;
  };
  std::vector<Node*> sends_of_0 = sends(part0), sends_of_1 = sends(part1);
  REQUIRE_FALSE(sends_of_0.empty());
  REQUIRE_FALSE(sends_of_1.empty());

  auto pool = NewAsioThreadPool(2);
  CpuDevice dev0(kDev0), dev1(kDev1);
  Executor exec0(part0, pool.get(), &dev0);
  Executor exec1(part1, pool.get(), &dev1);
  auto rendezvous = NewLocalRendezvous();
  StepTransfer transfer(rendezvous.get(), 1);
  StepOptions options;
  options.transfer = &transfer;

  std::promise<StatusOr<std::vector<Tensor>>> tower1_done;
  exec1.RunAsync({}, {}, sends_of_1, options,
                 [&tower1_done](StatusOr<std::vector<Tensor>> r) { tower1_done.set_value(std::move(r)); });
  auto result = exec0.Run(feeds, fetches, sends_of_0, options);
  auto tower1 = tower1_done.get_future().get();
  rendezvous->EndStep(1);
  REQUIRE(tower1.ok());
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

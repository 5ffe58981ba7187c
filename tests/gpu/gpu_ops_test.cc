// The `gpu` suite: every op with a CUDA kernel runs on GPU 0 and is compared
// with its CPU kernel on the same inputs; a partitioned CPU/GPU graph trains
// through Send/Recv; the allocator reuses memory across steps. Without a
// usable GPU the program exits 77 before running anything, so meson reports
// the suite SKIPPED, never passed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <set>

#include "core/thread_pool.h"
#include "device/cuda_ops.h"
#include "device/device_discovery.h"
#include "device/gpu_device.h"
#include "graph/gradients.h"
#include "graph/ops.h"
#include "graph/partitioned_runner.h"
#include "graph/placement.h"
#include "../random_tensor.h"

using namespace flowps;

namespace {

GpuDevice* gpu = nullptr;  // opened by main before any test runs

Tensor Random(Shape shape, uint32_t seed, float lo = -2.f, float hi = 2.f) {
  return flowps::testing::RandomTensor(std::move(shape), seed, lo, hi);
}

struct OpCase {
  std::string op;
  AttrMap attrs;
  std::vector<Tensor> inputs;
  float tolerance = 1e-5f;
};

std::vector<Tensor> RunKernel(Node& node, DeviceType type, std::vector<Tensor> inputs, Device* device) {
  KernelContext ctx(node, std::move(inputs), nullptr, nullptr, device);
  Status s = node.def().kernels.at(type)(ctx);
  INFO(DeviceTypeName(type) << " kernel of " << node.op() << ": " << s.ToString());
  REQUIRE(s.ok());
  return ctx.outputs();
}

// Runs the op's CPU and GPU kernels on the same inputs and compares every output.
void CheckOp(const OpRegistry& reg, const OpCase& c) {
  INFO("op " << c.op);
  Graph g(&reg);
  NodeSpec spec{c.op, "", {}, {}, c.attrs, ""};
  for (const Tensor& t : c.inputs) spec.inputs.push_back(Placeholder(g, t.dtype(), t.shape()));
  auto node = g.AddNode(spec);
  INFO(node.status().ToString());
  REQUIRE(node.ok());
  std::vector<Tensor> on_gpu;
  for (const Tensor& t : c.inputs) on_gpu.push_back(*gpu->CopyToDevice(t));
  std::vector<Tensor> want = RunKernel(**node, DeviceType::kCPU, c.inputs, nullptr);
  std::vector<Tensor> got = RunKernel(**node, DeviceType::kGPU, on_gpu, gpu);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    REQUIRE(got[i].on_device());
    Tensor host = *gpu->CopyToHost(got[i]);
    REQUIRE(host.dtype() == want[i].dtype());
    REQUIRE(host.shape() == want[i].shape());
    for (int64_t k = 0; k < host.num_elements(); ++k) {
      if (host.dtype() == DType::kFloat32) {
        const float w = want[i].data<float>()[k], v = host.data<float>()[k];
        INFO("output " << i << " element " << k << ": gpu " << v << ", cpu " << w);
        REQUIRE(std::abs(v - w) <= c.tolerance * (1.f + std::abs(w)));
      } else {
        REQUIRE(std::memcmp(host.data<char>() + k * DTypeSize(host.dtype()),
                            want[i].data<char>() + k * DTypeSize(host.dtype()), DTypeSize(host.dtype())) == 0);
      }
    }
  }
}

AttrMap Window(std::vector<int64_t> strides, const std::string& padding, std::vector<int64_t> ksize = {}) {
  AttrMap a;
  a["strides"] = strides;
  a["padding"] = padding;
  if (!ksize.empty()) a["ksize"] = ksize;
  return a;
}

std::vector<OpCase> Cases() {
  std::vector<OpCase> cases;
  Tensor x = Random(Shape{7, 33}, 1), pos = Random(Shape{7, 33}, 2, 0.1f, 3.f);
  for (const char* op : {"Neg", "Square", "Exp", "Relu", "Sigmoid", "Tanh"}) cases.push_back({op, {}, {x}});
  for (const char* op : {"Sqrt", "Log"}) cases.push_back({op, {}, {pos}});
  for (const char* op : {"Add", "Sub", "Mul", "Div", "ReluGrad", "SigmoidGrad", "TanhGrad", "SqrtGrad"}) {
    cases.push_back({op, {}, {x, pos}});
    cases.push_back({op, {}, {Random(Shape{4, 1, 5}, 3), Random(Shape{3, 1}, 4, 0.5f, 2.f)}});
  }
  cases.push_back({"BiasAdd", {}, {x, Random(Shape{33}, 5)}});
  cases.push_back({"BroadcastLike", {}, {Random(Shape{3, 1}, 6), Random(Shape{2, 3, 4}, 7)}});
  cases.push_back({"SumToShape", {}, {Random(Shape{2, 3, 4}, 8), Random(Shape{3, 1}, 9)}});
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax"}) {
    cases.push_back({op, {}, {Random(Shape{3, 4, 5}, 10)}, 1e-5f});
    cases.push_back({op, {{"axes", std::vector<int64_t>{0, 2}}, {"keep_dims", true}}, {Random(Shape{3, 4, 5}, 11)}});
    cases.push_back({op, {{"axes", std::vector<int64_t>{-1}}}, {Random(Shape{6, 9}, 12)}});
  }
  cases.push_back({"ExpandReduced", {{"axes", std::vector<int64_t>{1}}, {"mean", true}},
                   {Random(Shape{3, 5}, 13), Random(Shape{3, 4, 5}, 14)}});
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      cases.push_back({"MatMul", {{"transpose_a", ta}, {"transpose_b", tb}},
                       {Random(ta ? Shape{37, 19} : Shape{19, 37}, 15), Random(tb ? Shape{23, 37} : Shape{37, 23}, 16)},
                       1e-4f});
  cases.push_back({"Softmax", {}, {Random(Shape{9, 10}, 17, -5.f, 5.f)}});
  cases.push_back({"SparseSoftmaxCrossEntropyWithLogits", {},
                   {Random(Shape{5, 4}, 18), Tensor::FromVector<int64_t>(Shape{5}, {0, 3, 1, 2, 3})}});
  cases.push_back({"SparseSoftmaxCrossEntropyWithLogits", {},
                   {Random(Shape{3, 4}, 19), Tensor::FromVector<int32_t>(Shape{3}, {2, 0, 1})}});
  cases.push_back({"LogSumExp", {}, {Random(Shape{3, 2, 7}, 40, -30.f, 30.f)}});
  cases.push_back({"PickColumn", {{"offset", int64_t{2}}, {"vocab", int64_t{9}}},
                   {Random(Shape{4, 3}, 41), Tensor::FromVector<int32_t>(Shape{4}, {2, 8, 4, 0})}});
  cases.push_back({"PickColumn", {{"offset", int64_t{0}}, {"vocab", int64_t{3}}},
                   {Random(Shape{2, 3}, 42), Tensor::FromVector<int64_t>(Shape{2}, {1, 2})}});
  cases.push_back({"PickColumnGrad", {{"offset", int64_t{1}}},
                   {Random(Shape{3, 1}, 43), Tensor::FromVector<int32_t>(Shape{3}, {1, 0, 2}), Random(Shape{3, 2}, 44)}});
  cases.push_back({"Gather", {}, {Random(Shape{6, 4}, 20), Tensor::FromVector<int32_t>(Shape{2, 3}, {5, 0, 2, 2, 1, 5})}});
  cases.push_back({"Gather", {}, {Tensor::FromVector<int64_t>(Shape{4}, {7, 8, 9, 10}),
                                  Tensor::FromVector<int64_t>(Shape{3}, {3, 3, 0})}});
  cases.push_back({"SparseToDense", {},
                   {Tensor::FromVector<int64_t>(Shape{4}, {1, 4, 1, 0}), Random(Shape{4, 3}, 21), Random(Shape{5, 3}, 22)}});
  Tensor img = Random(Shape{2, 7, 6, 3}, 23), filter = Random(Shape{3, 2, 3, 4}, 24);
  for (const auto& [strides, padding] : {std::pair<std::vector<int64_t>, std::string>{{1, 1}, "SAME"}, {{2, 2}, "VALID"}}) {
    AttrMap a = Window(strides, padding);
    cases.push_back({"Conv2D", a, {img, filter}, 1e-4f});
    const int64_t oh = padding == "SAME" ? 7 : 3, ow = padding == "SAME" ? 6 : 3;
    Tensor dy = Random(Shape{2, oh, ow, 4}, 25);
    cases.push_back({"Conv2DBackpropInput", a, {img, filter, dy}, 1e-4f});
    cases.push_back({"Conv2DBackpropFilter", a, {img, filter, dy}, 1e-4f});
    AttrMap p = Window(strides, padding, {3, 2});
    cases.push_back({"MaxPool", p, {img}});
    cases.push_back({"MaxPoolGrad", p, {img, Random(Shape{2, oh, ow, 3}, 26)}});
  }
  using Ints = std::vector<int64_t>;
  cases.push_back({"Concat", {{"axis", int64_t{1}}}, {Random(Shape{3, 2, 4}, 30), Random(Shape{3, 5, 4}, 31)}});
  cases.push_back({"Concat", {{"axis", int64_t{-1}}}, {x, pos, x}});
  cases.push_back({"Concat", {{"axis", int64_t{0}}},
                   {Tensor::FromVector<int64_t>(Shape{2}, {1, 2}), Tensor::FromVector<int64_t>(Shape{1}, {3})}});
  cases.push_back({"Slice", {{"begin", Ints{1, 0, 2}}, {"size", Ints{2, -1, 2}}}, {Random(Shape{3, 4, 5}, 32)}});
  cases.push_back({"Split", {{"num_split", int64_t{3}}, {"axis", int64_t{1}}}, {Random(Shape{2, 6, 3}, 33)}});
  cases.push_back({"Split", {{"num_split", int64_t{4}}, {"axis", int64_t{-1}}}, {Random(Shape{5, 8}, 34)}});
  cases.push_back({"SliceGrad", {{"begin", Ints{1, 2}}}, {Random(Shape{2, 3}, 35), Random(Shape{4, 5}, 36)}});
  cases.push_back({"ZerosLike", {}, {x}});
  cases.push_back({"OnesLike", {}, {x}});
  cases.push_back({"Identity", {}, {x}});
  cases.push_back({"NoOp", {}, {}});
  cases.push_back({"Const", {{"value", Random(Shape{3, 2}, 28)}}, {}});
  cases.push_back({"Reshape", {{"shape", Shape{33, -1}}}, {x}});
  cases.push_back({"ReshapeLike", {}, {x, Random(Shape{33, 7}, 27)}});
  return cases;
}

}  // namespace

TEST_CASE("every op with a GPU kernel computes what its CPU kernel computes") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  REQUIRE(RegisterCudaKernels(&reg).ok());
  std::set<std::string> covered = {"Send", "Recv"};  // run by the partitioned-graph test below
  for (const OpCase& c : Cases()) {
    CheckOp(reg, c);
    covered.insert(c.op);
  }
  for (const std::string& name : reg.OpNames()) {
    const OpDef* def = reg.Find(name);
    if (def->kernels.count(DeviceType::kGPU) || def->async_kernels.count(DeviceType::kGPU)) {
      INFO("op " << name << " has a GPU kernel but no case here");
      CHECK(covered.count(name) == 1);
    }
  }
}

TEST_CASE("a bad index on the GPU is an InvalidArgument, as on the CPU") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  REQUIRE(RegisterCudaKernels(&reg).ok());
  Graph g(&reg);
  Output params = Placeholder(g, DType::kFloat32, Shape{4, 2});
  Output idx = Placeholder(g, DType::kInt32, Shape{2});
  Node* gather = Gather(params, idx).node;
  REQUIRE(g.status().ok());
  KernelContext ctx(*gather, {*gpu->CopyToDevice(Random(Shape{4, 2}, 1)),
                              *gpu->CopyToDevice(Tensor::FromVector<int32_t>(Shape{2}, {1, 4}))},
                    nullptr, nullptr, gpu);
  Status s = gather->def().kernels.at(DeviceType::kGPU)(ctx);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.ToString().find("out of range") != std::string::npos);
}

TEST_CASE("an MLP's gradients computed on the GPU partition equal the CPU ones, through Send/Recv") {
  const std::string cpu = "/job:worker/task:0/device:cpu:0", gpu_name = gpu->name();
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  REQUIRE(RegisterCudaKernels(&reg).ok());
  Graph g(&reg);
  std::vector<Output> params, grads_gpu, grads_cpu;
  Output x, labels;
  {
    DeviceScope on_cpu(g, cpu);
    x = Placeholder(g, DType::kFloat32, Shape{16, 12}, "x");
    labels = Placeholder(g, DType::kInt32, Shape{16}, "labels");
    params = {Placeholder(g, DType::kFloat32, Shape{12, 8}, "w1"), Placeholder(g, DType::kFloat32, Shape{8}, "b1"),
              Placeholder(g, DType::kFloat32, Shape{8, 4}, "w2"), Placeholder(g, DType::kFloat32, Shape{4}, "b2")};
  }
  for (const std::string& dev : {gpu_name, cpu}) {
    DeviceScope on(g, dev);
    Output h = Relu(BiasAdd(MatMul(x, params[0]), params[1]));
    Output loss = ReduceMean(SparseSoftmaxCrossEntropyWithLogits(BiasAdd(MatMul(h, params[2]), params[3]), labels));
    auto grads = Gradients(loss, params);
    REQUIRE(grads.ok());
    DeviceScope on_cpu(g, cpu);  // the results come back to the CPU
    for (size_t i = 0; i < params.size(); ++i)
      (dev == cpu ? grads_cpu : grads_gpu).push_back(Identity(DenseGradient((*grads)[i], params[i])));
  }
  REQUIRE(g.status().ok());
  PlacementOptions placement;
  placement.worker_devices = {cpu, gpu_name};
  placement.default_device = cpu;
  REQUIRE(PlaceGraph(&g, placement).ok());
  std::vector<std::string> fetches;
  for (const auto* list : {&grads_gpu, &grads_cpu})
    for (const Output& o : *list) fetches.push_back(o.name());
  auto pool = NewAsioThreadPool(2);
  CpuDevice cpu_device(cpu);
  auto runner = PartitionedRunner::Create(g, fetches, {}, pool.get(), {{cpu, &cpu_device}, {gpu_name, gpu}});
  REQUIRE(runner.ok());
  REQUIRE((*runner)->partitions().size() == 2);

  std::vector<std::string> names = {"x", "labels", "w1", "b1", "w2", "b2"};
  std::vector<Tensor> values = {Random(Shape{16, 12}, 1),
                                Tensor::FromVector<int32_t>(Shape{16}, {0, 1, 2, 3, 3, 2, 1, 0, 0, 0, 1, 1, 2, 2, 3, 3}),
                                Random(Shape{12, 8}, 2, -0.5f, 0.5f), Random(Shape{8}, 3, -0.1f, 0.1f),
                                Random(Shape{8, 4}, 4, -0.5f, 0.5f), Random(Shape{4}, 5, -0.1f, 0.1f)};
  std::vector<std::pair<std::string, Tensor>> feeds;
  for (size_t i = 0; i < names.size(); ++i) feeds.emplace_back(names[i], values[i]);
  for (int step = 1; step <= 3; ++step) {
    auto result = (*runner)->Run(feeds, nullptr);
    INFO("step " << step << ": " << result.status().ToString());
    REQUIRE(result.ok());
    for (size_t i = 0; i < params.size(); ++i) {
      const Tensor &a = (*result)[i], &b = (*result)[params.size() + i];
      REQUIRE_FALSE(a.on_device());
      for (int64_t k = 0; k < a.num_elements(); ++k) REQUIRE(a.data<float>()[k] == Approx(b.data<float>()[k]).margin(1e-5));
    }
  }
  // Steps 2 and 3 allocate the same sizes as step 1: served from the cache.
  CHECK(gpu->allocator_stats().cache_hits > 0);
}

int main(int argc, char** argv) {
  auto probe = NewGpuProbe();
  StatusOr<int> count = probe->DeviceCount();
  if (!count.ok() || *count == 0) {
    std::printf("SKIPPED: no usable GPU (%s)\n",
                count.ok() ? "the CUDA runtime reports 0 GPUs" : count.status().ToString().c_str());
    return 77;
  }
  auto device = GpuDevice::Open(0, "/job:worker/task:0/device:gpu:0");
  if (!device.ok()) {
    std::printf("cannot open GPU 0: %s\n", device.status().ToString().c_str());
    return 1;
  }
  gpu = device->get();
  return Catch::Session().run(argc, argv);
}

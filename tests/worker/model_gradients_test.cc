// LocalModel as a distributed worker uses it: gradients without applying them,
// split into towers, and variable values set from a pull.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "core/thread_pool.h"
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

std::unique_ptr<LocalModel> SmallMlp(ThreadPool* pool) {
  ModelSpec spec;
  spec.kind = ModelKind::kMlp;
  spec.hidden = {16};
  OptimizerSpec optimizer;
  auto m = LocalModel::Create(spec, optimizer, pool);
  REQUIRE(m.ok());
  return std::move(m).value();
}

}  // namespace

TEST_CASE("gradients of a batch split into towers, averaged, equal the whole batch's gradients") {
  auto pool = NewAsioThreadPool(2);
  auto model = SmallMlp(pool.get());
  Batch batch = RandomBatch(13, 7);  // 13 rows: towers of 6 and 7 (or 4, 4, 5)
  auto whole = model->ComputeGradients(batch.images, batch.labels, 1);
  REQUIRE(whole.ok());
  for (int towers : {2, 3}) {
    auto split = model->ComputeGradients(batch.images, batch.labels, towers);
    REQUIRE(split.ok());
    CHECK(split->loss == Approx(whole->loss).epsilon(1e-5));
    REQUIRE(split->grads.size() == whole->grads.size());
    for (size_t v = 0; v < whole->grads.size(); ++v) {
      const Tensor& a = whole->grads[v].values;
      const Tensor& b = split->grads[v].values;
      INFO(whole->grads[v].variable << " with " << towers << " towers");
      REQUIRE(a.shape().dims() == b.shape().dims());
      double worst = 0;
      for (int64_t i = 0; i < a.num_elements(); ++i)
        worst = std::max(worst, static_cast<double>(std::abs(a.data<float>()[i] - b.data<float>()[i])));
      CHECK(worst < 1e-5);
    }
  }
}

TEST_CASE("setting variables from a pull changes the gradients; a wrong shape changes nothing") {
  auto pool = NewAsioThreadPool(2);
  auto model = SmallMlp(pool.get());
  Batch batch = RandomBatch(8, 3);
  auto before = model->ComputeGradients(batch.images, batch.labels, 1);
  REQUIRE(before.ok());

  const ModelVariable& first = model->model().variables[0];
  Tensor wrong = Tensor::Zeros(DType::kFloat32, Shape{3});
  Status refused = model->SetVariables({{first.name, wrong}});
  CHECK(refused.code() == Code::kInvalidArgument);
  CHECK_THAT(refused.message(), Catch::Contains(first.name));
  auto same = model->ComputeGradients(batch.images, batch.labels, 1);
  REQUIRE(same.ok());
  CHECK(same->loss == Approx(before->loss));

  std::map<std::string, Tensor> zeros;
  for (const ModelVariable& v : model->model().variables) zeros[v.name] = Tensor::Zeros(DType::kFloat32, v.initial_value.shape());
  REQUIRE(model->SetVariables(zeros).ok());
  auto after = model->ComputeGradients(batch.images, batch.labels, 1);
  REQUIRE(after.ok());
  // Every weight zero: the logits are zero, so the loss is ln(10).
  CHECK(after->loss == Approx(std::log(10.0)).epsilon(1e-5));
}

#include "kernels/optimizers.h"

#include <cmath>

#include <catch2/catch.hpp>

#include "core/thread_pool.h"

namespace flowps::kernels {
namespace {

OptimizerConfig Config(OptimizerKind kind, double lr) {
  OptimizerConfig c;
  c.kind = kind;
  c.learning_rate = lr;
  return c;
}

std::vector<float> Values(const Tensor& t) { return t.ToVector<float>(); }

}  // namespace

TEST_CASE("sgd moves the variable by -learning_rate * gradient") {
  Optimizer opt(Config(OptimizerKind::kSgd, 0.1));
  Tensor var = Tensor::FromVector<float>({2}, {1.0f, 2.0f});
  std::vector<Tensor> slots = opt.MakeSlots(var.shape());
  CHECK(slots.empty());
  REQUIRE(opt.ApplyDense(var, slots, Tensor::FromVector<float>({2}, {0.5f, -1.0f}), 1).ok());
  CHECK(Values(var)[0] == Approx(0.95f));
  CHECK(Values(var)[1] == Approx(2.1f));
}

TEST_CASE("momentum accumulates: two steps of a constant gradient move by lr*g*(2+mu)") {
  OptimizerConfig c = Config(OptimizerKind::kMomentum, 0.1);
  c.momentum = 0.5;
  Optimizer opt(c);
  Tensor var = Tensor::FromVector<float>({1}, {1.0f});
  std::vector<Tensor> slots = opt.MakeSlots(var.shape());
  Tensor g = Tensor::FromVector<float>({1}, {2.0f});
  REQUIRE(opt.ApplyDense(var, slots, g, 1).ok());
  REQUIRE(opt.ApplyDense(var, slots, g, 2).ok());
  CHECK(Values(var)[0] == Approx(1.0f - 0.1f * 2.0f * 2.5f));
  CHECK(Values(slots[0])[0] == Approx(2.0f * 1.5f));
}

TEST_CASE("nesterov momentum looks ahead by momentum * accumulator") {
  OptimizerConfig c = Config(OptimizerKind::kMomentum, 0.1);
  c.momentum = 0.5;
  c.nesterov = true;
  Optimizer opt(c);
  Tensor var = Tensor::FromVector<float>({1}, {1.0f});
  std::vector<Tensor> slots = opt.MakeSlots(var.shape());
  Tensor g = Tensor::FromVector<float>({1}, {2.0f});
  REQUIRE(opt.ApplyDense(var, slots, g, 1).ok());
  // acc = g; var -= lr * (g + mu * g)
  CHECK(Values(var)[0] == Approx(1.0f - 0.1f * (2.0f + 0.5f * 2.0f)));
  REQUIRE(opt.ApplyDense(var, slots, g, 2).ok());
  // acc = (1 + mu) g; var -= lr * (g + mu * (1 + mu) g)
  CHECK(Values(var)[0] == Approx(1.0f - 0.3f - 0.1f * (2.0f + 0.5f * 1.5f * 2.0f)));
}

TEST_CASE("adagrad divides by the root of the accumulated squares") {
  OptimizerConfig c = Config(OptimizerKind::kAdagrad, 0.5);
  c.initial_accumulator = 0.1;
  c.epsilon = 0;
  Optimizer opt(c);
  Tensor var = Tensor::FromVector<float>({2}, {0.0f, 0.0f});
  std::vector<Tensor> slots = opt.MakeSlots(var.shape());
  CHECK(Values(slots[0]) == std::vector<float>{0.1f, 0.1f});
  REQUIRE(opt.ApplyDense(var, slots, Tensor::FromVector<float>({2}, {1.0f, -3.0f}), 1).ok());
  CHECK(Values(slots[0])[0] == Approx(1.1f));
  CHECK(Values(slots[0])[1] == Approx(9.1f));
  CHECK(Values(var)[0] == Approx(-0.5f / std::sqrt(1.1f)));
  CHECK(Values(var)[1] == Approx(1.5f / std::sqrt(9.1f)));
}

TEST_CASE("adam with bias correction moves each step by exactly lr against a constant gradient") {
  // With a constant g and epsilon 0: m_t = (1-b1^t) g, v_t = (1-b2^t) g^2, so
  // lr * sqrt(1-b2^t)/(1-b1^t) * m_t/sqrt(v_t) = lr * sign(g) at every step t.
  OptimizerConfig c = Config(OptimizerKind::kAdam, 0.01);
  c.epsilon = 0;
  Optimizer opt(c);
  Tensor var = Tensor::FromVector<float>({2}, {1.0f, 1.0f});
  std::vector<Tensor> slots = opt.MakeSlots(var.shape());
  REQUIRE(slots.size() == 2);
  Tensor g = Tensor::FromVector<float>({2}, {4.0f, -0.25f});
  for (int64_t t = 1; t <= 3; ++t) REQUIRE(opt.ApplyDense(var, slots, g, t).ok());
  CHECK(Values(var)[0] == Approx(1.0f - 0.03f));
  CHECK(Values(var)[1] == Approx(1.0f + 0.03f));
  CHECK(Values(slots[0])[0] == Approx((1 - std::pow(0.9, 3)) * 4.0));
  CHECK(Values(slots[1])[0] == Approx((1 - std::pow(0.999, 3)) * 16.0).epsilon(1e-4));
}

TEST_CASE("adam's bias correction uses the global step it is given") {
  OptimizerConfig c = Config(OptimizerKind::kAdam, 0.01);
  c.epsilon = 0;
  Optimizer opt(c);
  Tensor var = Tensor::FromVector<float>({1}, {0.0f});
  std::vector<Tensor> slots = opt.MakeSlots(var.shape());
  // A first update labelled step 100: m = 0.1 g, v = 0.001 g^2.
  REQUIRE(opt.ApplyDense(var, slots, Tensor::FromVector<float>({1}, {1.0f}), 100).ok());
  double expected = -0.01 * std::sqrt(1 - std::pow(0.999, 100)) / (1 - std::pow(0.9, 100)) * 0.1 /
                    std::sqrt(0.001);
  CHECK(Values(var)[0] == Approx(expected).epsilon(1e-4));
}

TEST_CASE("ftrl's first step is the proximal solution, zero where |gradient| <= l1") {
  OptimizerConfig c = Config(OptimizerKind::kFtrl, 0.5);
  c.initial_accumulator = 0.1;
  c.l1 = 1.0;
  c.l2 = 0.25;
  Optimizer opt(c);
  Tensor var = Tensor::FromVector<float>({2}, {0.0f, 0.0f});
  std::vector<Tensor> slots = opt.MakeSlots(var.shape());
  REQUIRE(opt.SlotNames() == std::vector<std::string>{"accumulator", "linear"});
  CHECK(Values(slots[0]) == std::vector<float>{0.1f, 0.1f});
  REQUIRE(opt.ApplyDense(var, slots, Tensor::FromVector<float>({2}, {3.0f, 0.5f}), 1).ok());
  // From var 0: z = g, n = 0.1 + g^2, var = (sign(z) l1 - z) / (sqrt(n) / lr + 2 l2).
  CHECK(Values(var)[0] == Approx((1.0 - 3.0) / (std::sqrt(9.1) / 0.5 + 0.5)));
  CHECK(Values(var)[1] == 0.0f);  // |z| = 0.5 <= l1: exactly zero (sparsity)
  CHECK(Values(slots[1])[1] == Approx(0.5f));
  CHECK(Values(slots[0])[0] == Approx(9.1f));
}

TEST_CASE("ftrl's second step folds the learning-rate change times the weight into z") {
  OptimizerConfig c = Config(OptimizerKind::kFtrl, 0.2);
  c.initial_accumulator = 0.5;
  c.l1 = 0.1;
  c.l2 = 0.3;
  Optimizer opt(c);
  Tensor var = Tensor::FromVector<float>({1}, {0.4f});
  std::vector<Tensor> slots = opt.MakeSlots(var.shape());
  double w = 0.4, n = 0.5, z = 0;
  for (double g : {1.5, -0.7}) {
    REQUIRE(opt.ApplyDense(var, slots, Tensor::FromVector<float>({1}, {static_cast<float>(g)}), 1).ok());
    double n2 = n + g * g;
    z += g - (std::sqrt(n2) - std::sqrt(n)) / 0.2 * w;
    n = n2;
    w = std::abs(z) <= 0.1 ? 0 : ((z > 0 ? 0.1 : -0.1) - z) / (std::sqrt(n) / 0.2 + 2 * 0.3);
    CHECK(Values(var)[0] == Approx(w).epsilon(1e-5));
    CHECK(Values(slots[1])[0] == Approx(z).epsilon(1e-5));
  }
  CHECK(w != 0.0);
}

TEST_CASE("ftrl with l1 = l2 = 0 is the lr / sqrt(n) scaled negative of z") {
  OptimizerConfig c = Config(OptimizerKind::kFtrl, 0.1);
  Optimizer opt(c);
  Tensor var = Tensor::FromVector<float>({1}, {0.0f});
  std::vector<Tensor> slots = opt.MakeSlots(var.shape());
  for (int t = 1; t <= 5; ++t)
    REQUIRE(opt.ApplyDense(var, slots, Tensor::FromVector<float>({1}, {1.0f}), t).ok());
  CHECK(Values(var)[0] == Approx(-Values(slots[1])[0] * 0.1f / std::sqrt(Values(slots[0])[0])));
  CHECK(Values(slots[0])[0] == Approx(5.1f));
}

TEST_CASE("a sparse update touches only the rows pushed, slots included") {
  OptimizerConfig c = Config(OptimizerKind::kAdam, 0.01);
  c.epsilon = 0;
  Optimizer opt(c);
  Tensor var = Tensor::Zeros(DType::kFloat32, {4, 2});
  std::vector<Tensor> slots = opt.MakeSlots(var.shape());
  Tensor idx = Tensor::FromVector<int64_t>({2}, {3, 1});
  Tensor rows = Tensor::FromVector<float>({2, 2}, {1, 1, -1, -1});
  REQUIRE(opt.ApplySparse(var, slots, idx, rows, 1).ok());
  std::vector<float> v = Values(var);
  std::vector<float> expected{0, 0, 0.01f, 0.01f, 0, 0, -0.01f, -0.01f};
  for (size_t i = 0; i < v.size(); ++i) CHECK(v[i] == Approx(expected[i]));
  CHECK(v[0] == 0.0f);
  CHECK(v[4] == 0.0f);
  std::vector<float> m = Values(slots[0]);
  CHECK(m[0] == 0.0f);
  CHECK(m[4] == 0.0f);
  CHECK(m[6] == Approx(0.1f));
}

TEST_CASE("duplicate indices in a sparse update are summed into one row update") {
  Optimizer opt(Config(OptimizerKind::kAdagrad, 1.0));
  Tensor var = Tensor::Zeros(DType::kFloat32, {3, 1});
  std::vector<Tensor> slots = opt.MakeSlots(var.shape());
  Tensor idx = Tensor::FromVector<int32_t>({3}, {2, 2, 0});
  Tensor rows = Tensor::FromVector<float>({3, 1}, {1, 2, 1});
  REQUIRE(opt.ApplySparse(var, slots, idx, rows, 1).ok());
  // Row 2 sees one gradient of 3: acc = 0.1 + 9.
  CHECK(Values(slots[0])[2] == Approx(9.1f));
  CHECK(Values(var)[2] == Approx(-3.0f / std::sqrt(9.1f)));
  CHECK(Values(var)[1] == 0.0f);
}

TEST_CASE("a malformed gradient is refused and changes nothing") {
  Optimizer opt(Config(OptimizerKind::kMomentum, 0.1));
  Tensor var = Tensor::FromVector<float>({2, 2}, {1, 2, 3, 4});
  std::vector<Tensor> slots = opt.MakeSlots(var.shape());
  Status wrong_shape = opt.ApplyDense(var, slots, Tensor::Zeros(DType::kFloat32, {4}), 1);
  CHECK(wrong_shape.code() == Code::kInvalidArgument);
  CHECK(wrong_shape.message().find("[2,2]") != std::string::npos);
  Status wrong_dtype = opt.ApplyDense(var, slots, Tensor::Zeros(DType::kInt32, {2, 2}), 1);
  CHECK(wrong_dtype.code() == Code::kInvalidArgument);
  Status out_of_range = opt.ApplySparse(var, slots, Tensor::FromVector<int64_t>({2}, {0, 2}),
                                        Tensor::FromVector<float>({2, 2}, {1, 1, 1, 1}), 1);
  CHECK(out_of_range.code() == Code::kInvalidArgument);
  CHECK(out_of_range.message().find("index 2") != std::string::npos);
  CHECK(Values(var) == std::vector<float>{1, 2, 3, 4});
  CHECK(Values(slots[0]) == std::vector<float>{0, 0, 0, 0});
}

TEST_CASE("a dense update split across the thread pool equals the serial update") {
  std::unique_ptr<ThreadPool> pool = NewAsioThreadPool(2);
  Optimizer opt(Config(OptimizerKind::kAdam, 0.001));
  const int64_t n = (3 << 20) + 7;
  std::vector<float> init(n), grad(n);
  for (int64_t i = 0; i < n; ++i) {
    init[i] = static_cast<float>(i % 97) * 0.01f;
    grad[i] = static_cast<float>(i % 13) - 6.0f;
  }
  Tensor a = Tensor::FromVector<float>({n}, init), b = Tensor::FromVector<float>({n}, init);
  Tensor g = Tensor::FromVector<float>({n}, grad);
  std::vector<Tensor> sa = opt.MakeSlots(a.shape()), sb = opt.MakeSlots(b.shape());
  REQUIRE(opt.ApplyDense(a, sa, g, 1).ok());
  REQUIRE(opt.ApplyDense(b, sb, g, 1, pool.get()).ok());
  CHECK(std::memcmp(a.raw_data(), b.raw_data(), a.num_bytes()) == 0);
  CHECK(std::memcmp(sa[1].raw_data(), sb[1].raw_data(), a.num_bytes()) == 0);
}

TEST_CASE("optimizer configs out of range are refused naming the field") {
  OptimizerConfig c = Config(OptimizerKind::kAdam, 0.01);
  c.beta1 = 1.0;
  CHECK(c.Validate().message().find("beta1") != std::string::npos);
  c = Config(OptimizerKind::kSgd, -1);
  CHECK(c.Validate().message().find("learning_rate") != std::string::npos);
  CHECK(ParseOptimizerKind("adam").value() == OptimizerKind::kAdam);
  CHECK(!ParseOptimizerKind("rmsprop").ok());
}

}  // namespace flowps::kernels

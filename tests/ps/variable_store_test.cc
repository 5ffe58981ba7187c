#include "ps/variable_store.h"

#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "core/partition_plan.h"
#include "ps_test_util.h"

namespace flowps::ps {
using namespace testing;

TEST_CASE("a variable split by rows across shards holds the same values as the whole variable") {
  VariableSpec whole = ZerosSpec("emb", {10, 3});
  whole.initializer.kind = kernels::InitializerKind::kNormal;
  whole.initializer.seed = 42;
  VariableStore one(Sgd(0.1), nullptr), a(Sgd(0.1), nullptr), b(Sgd(0.1), nullptr);
  CreateOrDie(one, whole);
  VariableSpec top = whole, bottom = whole;
  top.row_end = 4;
  bottom.row_begin = 4;
  CreateOrDie(a, top);
  CreateOrDie(b, bottom);
  std::vector<float> joined = Values(a, "emb");
  std::vector<float> rest = Values(b, "emb");
  joined.insert(joined.end(), rest.begin(), rest.end());
  CHECK(joined == Values(one, "emb"));
  CHECK(a.Pull("emb").value().shape() == Shape{4, 3});
  // Normal(0, 0.05) values: not all equal, none absurd.
  CHECK(joined[0] != joined[1]);
  for (float v : joined) CHECK(std::abs(v) < 0.5f);
}

TEST_CASE("creating a variable again with the same spec keeps it; another shape is refused") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("w", {2}));
  REQUIRE(store.Apply({Dense("w", {2}, {1, 1})}, 1).ok());
  bool created = true;
  REQUIRE(store.Create(ZerosSpec("w", {2}), &created).ok());
  CHECK(!created);
  CHECK(Values(store, "w") == std::vector<float>{-1, -1});
  Status other = store.Create(ZerosSpec("w", {3}), &created);
  CHECK(other.code() == Code::kAlreadyExists);
  CHECK(other.message().find("'w'") != std::string::npos);
}

TEST_CASE("a bad push is refused with a clear error and changes nothing") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("a", {2}));
  CreateOrDie(store, ZerosSpec("b", {2, 2}));
  const Gradient good = Dense("a", {2}, {1, 2});
  auto refused = [&](std::vector<Gradient> grads, Code code, const std::string& needle) {
    Status st = store.Apply(grads, 1);
    CHECK(st.code() == code);
    CHECK(st.message().find(needle) != std::string::npos);
  };
  SECTION("wrong shape") { refused({good, Dense("b", {4}, {1, 2, 3, 4})}, Code::kInvalidArgument, "'b'"); }
  SECTION("wrong dtype") {
    refused({good, Gradient{"b", Tensor::Zeros(DType::kInt32, {2, 2}), Tensor()}}, Code::kInvalidArgument, "int32");
  }
  SECTION("unknown variable") { refused({good, Dense("c", {2}, {1, 2})}, Code::kNotFound, "'c'"); }
  SECTION("non-finite values") {
    refused({good, Dense("b", {2, 2}, {1, std::numeric_limits<float>::quiet_NaN(), 0, 0})},
            Code::kInvalidArgument, "NaN");
    refused({good, Dense("b", {2, 2}, {std::numeric_limits<float>::infinity(), 0, 0, 0})},
            Code::kInvalidArgument, "NaN or Inf");
  }
  SECTION("the same variable twice") { refused({good, good}, Code::kInvalidArgument, "twice"); }
  SECTION("a sparse row outside the variable") {
    refused({good, Gradient{"b", Tensor::FromVector<float>({1, 2}, {1, 1}), Tensor::FromVector<int64_t>({1}, {5})}},
            Code::kInvalidArgument, "index 5");
  }
  CHECK(Values(store, "a") == std::vector<float>{0, 0});
  CHECK(Values(store, "b") == std::vector<float>{0, 0, 0, 0});
}

TEST_CASE("sparse pull and push use global row ids and refuse rows held by another shard") {
  VariableStore store(Sgd(1.0), nullptr);
  VariableSpec spec = ZerosSpec("emb", {6, 2});
  spec.initializer.kind = kernels::InitializerKind::kConstant;
  spec.initializer.value = 1;
  spec.row_begin = 3;
  spec.row_end = 6;
  CreateOrDie(store, spec);
  Tensor rows = Tensor::FromVector<float>({2, 2}, {1, 2, 3, 4});
  REQUIRE(store.Apply({Gradient{"emb", rows, Tensor::FromVector<int32_t>({2}, {5, 3})}}, 1).ok());
  CHECK(Values(store, "emb") == std::vector<float>{-2, -3, 1, 1, 0, -1});
  StatusOr<Tensor> pulled = store.PullRows("emb", Tensor::FromVector<int64_t>({2}, {5, 4}));
  REQUIRE(pulled.ok());
  CHECK(pulled->ToVector<float>() == std::vector<float>{0, -1, 1, 1});
  StatusOr<Tensor> elsewhere = store.PullRows("emb", Tensor::FromVector<int64_t>({1}, {2}));
  CHECK(elsewhere.status().code() == Code::kInvalidArgument);
  CHECK(elsewhere.status().message().find("not held by this shard") != std::string::npos);
}

TEST_CASE("a pulled tensor never changes under its reader when a later push is applied") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("w", {3}));
  Tensor before = store.Pull("w").value();
  REQUIRE(store.Apply({Dense("w", {3}, {1, 2, 3})}, 1).ok());
  CHECK(before.ToVector<float>() == std::vector<float>{0, 0, 0});
  CHECK(Values(store, "w") == std::vector<float>{-1, -2, -3});
}

TEST_CASE("the partition plan splits large variables by rows and balances shards by bytes") {
  std::vector<VariableInfo> vars = {
      {"small_a", DType::kFloat32, Shape{10}},
      {"big", DType::kFloat32, Shape{1000, 100}},  // 400 KB
      {"small_b", DType::kFloat32, Shape{20}},
      {"scalar", DType::kFloat32, Shape{}},
  };
  StatusOr<PartitionPlan> plan = PlanPartitions(vars, 3, 100 * 1000);
  REQUIRE(plan.ok());
  const VariablePlacement* big = plan->Find("big");
  REQUIRE(big != nullptr);
  REQUIRE(big->parts.size() == 3);
  int64_t next = 0;
  for (const VariablePart& p : big->parts) {
    CHECK(p.row_begin == next);
    next = p.row_end;
    CHECK(p.row_end - p.row_begin >= 333);
  }
  CHECK(next == 1000);
  for (const char* name : {"small_a", "small_b", "scalar"}) CHECK(plan->Find(name)->parts.size() == 1);
  // The two small vectors go to different shards (least loaded first).
  CHECK(plan->Find("small_a")->parts[0].shard != plan->Find("small_b")->parts[0].shard);
  std::vector<int64_t> bytes = plan->BytesPerShard();
  int64_t total = 0;
  for (int64_t b : bytes) total += b;
  CHECK(total == 400000 + 40 + 80 + 4);

  StatusOr<std::vector<std::vector<int64_t>>> groups = big->GroupRowsByPart({999, 0, 400});
  REQUIRE(groups.ok());
  CHECK((*groups)[0] == std::vector<int64_t>{1});
  CHECK((*groups)[1] == std::vector<int64_t>{2});
  CHECK((*groups)[2] == std::vector<int64_t>{0});
  CHECK(!big->GroupRowsByPart({1000}).ok());
  CHECK(!PlanPartitions({vars[0], vars[0]}, 2, 1).ok());
}

TEST_CASE("a variable whose element count overflows int64 is refused, not allocated") {
  VariableStore store(Sgd(0.1), nullptr);
  bool created = true;
  Status s = store.Create(ZerosSpec("huge", {int64_t{1} << 40, int64_t{1} << 40}), &created);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK_THAT(s.message(), Catch::Contains("has more than 2^56 elements"));
  CHECK(!created);
}

}  // namespace flowps::ps

namespace flowps::kernels {

TEST_CASE("initializers draw within their bounds and depend only on the seed") {
  InitializerSpec uniform;
  uniform.kind = InitializerKind::kUniform;
  uniform.min = -0.5;
  uniform.max = 0.25;
  uniform.seed = 3;
  std::vector<float> u = Initialize(uniform, Shape{100, 10}, 0, 100).ToVector<float>();
  float lo = 1, hi = -1;
  for (float v : u) lo = std::min(lo, v), hi = std::max(hi, v);
  CHECK(lo >= -0.5f);
  CHECK(hi <= 0.25f);
  CHECK(hi - lo > 0.6f);  // spread over the range
  CHECK(Initialize(uniform, Shape{100, 10}, 0, 100).ToVector<float>() == u);
  uniform.seed = 4;
  CHECK(Initialize(uniform, Shape{100, 10}, 0, 100).ToVector<float>() != u);

  InitializerSpec glorot;
  glorot.kind = InitializerKind::kGlorotUniform;
  const float limit = std::sqrt(6.0f / (784 + 64));
  for (float v : Initialize(glorot, Shape{784, 64}, 0, 784).ToVector<float>()) CHECK(std::abs(v) <= limit);

  InitializerSpec constant;
  constant.kind = InitializerKind::kConstant;
  constant.value = 2.5;
  CHECK(Initialize(constant, Shape{}, 0, 1).ToVector<float>() == std::vector<float>{2.5f});
  CHECK(!ParseInitializerKind("lecun_normal").ok());
  InitializerSpec bad = uniform;
  bad.min = 1;
  bad.max = 0;
  CHECK(bad.Validate().code() == Code::kInvalidArgument);
}

}  // namespace flowps::kernels

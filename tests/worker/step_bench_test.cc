#include <catch2/catch.hpp>

#include "bench/step_bench.h"
#include "core/thread_pool.h"

using namespace flowps;

TEST_CASE("the step benchmark reports the median step time, its p90 and the rate") {
  auto pool = NewAsioThreadPool(2);
  std::vector<Measurement> got;
  BenchContext ctx;
  ctx.pool = pool.get();
  ctx.options = {{"steps", "5"}, {"warmup", "1"}, {"hidden", "16"}};
  ctx.emit = [&](const Measurement& m) { got.push_back(m); };
  Benchmark b = MakeStepBenchmark();
  CHECK(b.name == "step");
  REQUIRE(b.run(ctx).ok());
  REQUIRE(got.size() == 3);
  CHECK(got[0].name == "step_mlp_784_16_10_b64_median_us");
  CHECK(got[0].unit == "us");
  CHECK(got[0].value > 0);
  CHECK(got[1].value >= got[0].value);
  CHECK(got[2].value == Approx(64e6 / got[0].value));
}

TEST_CASE("the step benchmark refuses an unknown or bad option by name") {
  auto pool = NewAsioThreadPool(1);
  BenchContext ctx;
  ctx.pool = pool.get();
  ctx.emit = [](const Measurement&) {};
  ctx.options = {{"stepz", "5"}};
  CHECK_THAT(MakeStepBenchmark().run(ctx).message(), Catch::Contains("unknown option 'stepz'"));
  ctx.options = {{"batch", "-3"}};
  CHECK_THAT(MakeStepBenchmark().run(ctx).message(), Catch::Contains("batch=-3"));
}

TEST_CASE("the step benchmark with devices=2 times a worker's gradient step on two towers") {
  auto pool = NewAsioThreadPool(2);
  std::vector<Measurement> got;
  BenchContext ctx;
  ctx.pool = pool.get();
  ctx.options = {{"steps", "3"}, {"warmup", "1"}, {"hidden", "16"}, {"devices", "2"}};
  ctx.emit = [&](const Measurement& m) { got.push_back(m); };
  REQUIRE(MakeStepBenchmark().run(ctx).ok());
  REQUIRE(got.size() == 3);
  CHECK(got[0].name == "gradients_mlp_784_16_10_b64_devices2_median_us");
  CHECK(got[0].value > 0);
  ctx.options = {{"devices", "0"}};
  CHECK_THAT(MakeStepBenchmark().run(ctx).message(), Catch::Contains("devices=0"));
}

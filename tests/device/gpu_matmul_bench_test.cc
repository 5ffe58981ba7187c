#include <catch2/catch.hpp>

#include "bench/matmul_bench.h"
#include "core/thread_pool.h"
#include "device/device_discovery.h"

using namespace flowps;

TEST_CASE("the matmul benchmark on a GPU refuses clearly without one, and measures beside cuBLAS with one") {
  Benchmark bench = MakeMatmulBenchmark();
  std::vector<Measurement> out;
  auto pool = NewAsioThreadPool(2);
  BenchContext ctx;
  ctx.pool = pool.get();
  ctx.options = {{"device", "gpu:0"}, {"sizes", "64"}, {"seconds", "0.01"}};
  ctx.emit = [&out](const Measurement& m) { out.push_back(m); };
  Status s = bench.run(ctx);
  StatusOr<int> gpus = NewGpuProbe()->DeviceCount();
  if (!gpus.ok() || *gpus == 0) {
    REQUIRE(s.code() == Code::kFailedPrecondition);
    const std::string why = s.ToString();
    CHECK(why.find("gpu:0") != std::string::npos);
    CHECK((why.find("no usable GPU") != std::string::npos || why.find("without CUDA") != std::string::npos));
    CHECK(out.empty());
  } else {
    REQUIRE(s.ok());
    REQUIRE(out.size() == 1);
    CHECK(out[0].name == "matmul_64_gflops_gpu0");
    CHECK(out[0].baseline_name == "cublas_sgemm_64_gflops_gpu0");
    CHECK(out[0].value > 0);
  }
}

TEST_CASE("the matmul benchmark refuses a device that is neither cpu:0 nor gpu:N") {
  BenchContext ctx;
  ctx.options = {{"device", "tpu:0"}};
  ctx.emit = [](const Measurement&) {};
  Status s = MakeMatmulBenchmark().run(ctx);
  REQUIRE(s.code() == Code::kInvalidArgument);
  CHECK(s.ToString().find("tpu:0") != std::string::npos);
}

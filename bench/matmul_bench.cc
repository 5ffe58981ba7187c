#include "bench/matmul_bench.h"

#define EIGEN_USE_THREADS
#include <Eigen/Core>
#include <unsupported/Eigen/CXX11/Tensor>
#include <algorithm>
#include <chrono>
#include <sstream>

#include "bench/gpu_matmul_bench.h"
#include "core/thread_pool.h"
#include "graph/executor.h"
#include "graph/ops.h"

namespace flowps {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<int64_t> sizes{256, 1024, 2048};
  double seconds = 1.0;
  std::string device = "cpu:0";
};

StatusOr<Options> ParseOptions(const std::map<std::string, std::string>& opts) {
  Options o;
  for (const auto& [key, value] : opts) {
    if (key == "sizes") {
      o.sizes.clear();
      std::stringstream ss(value);
      std::string item;
      while (std::getline(ss, item, ',')) {
        char* end = nullptr;
        long long n = std::strtoll(item.c_str(), &end, 10);
        if (end == item.c_str() || *end != '\0' || n < 1 || n > 16384)
          return InvalidArgument("matmul: --opt sizes: '" + item + "' is not a size in [1, 16384]");
        o.sizes.push_back(n);
      }
      if (o.sizes.empty()) return InvalidArgument("matmul: --opt sizes is empty");
    } else if (key == "seconds") {
      char* end = nullptr;
      o.seconds = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || !(o.seconds > 0 && o.seconds <= 600))
        return InvalidArgument("matmul: --opt seconds: '" + value + "' is not in (0, 600]");
    } else if (key == "device") {
      if (value != "cpu:0" && value.rfind("gpu:", 0) != 0)
        return InvalidArgument("matmul: --opt device: '" + value + "' is neither cpu:0 nor gpu:<index>");
      o.device = value;
    } else {
      return InvalidArgument("matmul: unknown option '" + key + "' (known: sizes, seconds, device)");
    }
  }
  return o;
}

}  // namespace

StatusOr<double> MedianGflops(int64_t n, double seconds, const std::function<Status()>& run) {
  FLOWPS_RETURN_IF_ERROR(run());
  std::vector<double> rates;
  const auto stop = Clock::now() + std::chrono::duration<double>(seconds);
  while (rates.size() < 3 || (Clock::now() < stop && rates.size() < 1000)) {
    auto t0 = Clock::now();
    FLOWPS_RETURN_IF_ERROR(run());
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    rates.push_back(2.0 * double(n) * double(n) * double(n) / s / 1e9);
  }
  std::nth_element(rates.begin(), rates.begin() + rates.size() / 2, rates.end());
  return rates[rates.size() / 2];
}

namespace {

Status RunMatmul(BenchContext& ctx) {
  FLOWPS_ASSIGN_OR_RETURN(Options o, ParseOptions(ctx.options));
  if (o.device != "cpu:0") return RunGpuMatmul(ctx, o.device, o.sizes, o.seconds);
  ThreadPool* pool = ctx.pool;
  const int threads = pool->num_threads();
  auto single = NewAsioThreadPool(1);
  Eigen::ThreadPool eigen_pool(threads);
  Eigen::ThreadPoolDevice eigen_device(&eigen_pool, threads);

  OpRegistry registry;
  FLOWPS_RETURN_IF_ERROR(RegisterStandardOps(&registry));
  Graph g(&registry);
  Output a = Placeholder(g, DType::kFloat32, Shape{-1, -1}, "a");
  Output b = Placeholder(g, DType::kFloat32, Shape{-1, -1}, "b");
  Output c = MatMul(a, b);
  FLOWPS_RETURN_IF_ERROR(g.status());
  Executor on_one(g, single.get());
  Executor on_pool(g, pool);

  for (int64_t n : o.sizes) {
    if (ctx.progress) ctx.progress("matmul " + std::to_string(n) + "x" + std::to_string(n));
    Tensor ta(DType::kFloat32, Shape{n, n}), tb(DType::kFloat32, Shape{n, n});
    Eigen::Map<Eigen::ArrayXf>(ta.data<float>(), n * n).setRandom();
    Eigen::Map<Eigen::ArrayXf>(tb.data<float>(), n * n).setRandom();
    FeedList feeds{{a, ta}, {b, tb}};
    auto through = [&](Executor& exec) {
      return [&]() -> Status { return exec.Run(feeds, {c}).status(); };
    };

    using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const RowMatrix> ma(ta.data<float>(), n, n), mb(tb.data<float>(), n, n);
    RowMatrix mc(n, n);
    FLOWPS_ASSIGN_OR_RETURN(double gemm, MedianGflops(n, o.seconds, [&]() -> Status {
      mc.noalias() = ma * mb;
      return Status::OK();
    }));
    FLOWPS_ASSIGN_OR_RETURN(double ours_one, MedianGflops(n, o.seconds, through(on_one)));
    ctx.emit(Measurement{"matmul_" + std::to_string(n) + "_gflops_1thread", ours_one, "GFLOP/s",
                         "eigen_gemm_" + std::to_string(n) + "_gflops_1thread", gemm});

    using TensorMap = Eigen::TensorMap<Eigen::Tensor<const float, 2, Eigen::RowMajor>>;
    TensorMap xa(ta.data<float>(), n, n), xb(tb.data<float>(), n, n);
    Eigen::Tensor<float, 2, Eigen::RowMajor> xc(n, n);
    const Eigen::array<Eigen::IndexPair<int>, 1> dims{Eigen::IndexPair<int>(1, 0)};
    FLOWPS_ASSIGN_OR_RETURN(double contract, MedianGflops(n, o.seconds, [&]() -> Status {
      xc.device(eigen_device) = xa.contract(xb, dims);
      return Status::OK();
    }));
    FLOWPS_ASSIGN_OR_RETURN(double ours_pool, MedianGflops(n, o.seconds, through(on_pool)));
    const std::string t = std::to_string(threads) + "threads";
    ctx.emit(Measurement{"matmul_" + std::to_string(n) + "_gflops_" + t, ours_pool, "GFLOP/s",
                         "eigen_contract_" + std::to_string(n) + "_gflops_" + t, contract});
  }
  return Status::OK();
}

}  // namespace

Benchmark MakeMatmulBenchmark() {
  return Benchmark{"matmul",
                   "MatMul GFLOP/s through the executor at 256, 1024, 2048 square, beside Eigen's own GEMM",
                   RunMatmul};
}

}  // namespace flowps

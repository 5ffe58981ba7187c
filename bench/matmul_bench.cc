#include "bench/matmul_bench.h"

#define EIGEN_USE_THREADS
#include <Eigen/Core>
#include <unsupported/Eigen/CXX11/Tensor>
#include <algorithm>
#include <chrono>
#include <optional>
#include <sstream>

#include "bench/gpu_matmul_bench.h"
#include "core/thread_pool.h"
#include "graph/executor.h"
#include "graph/ops.h"
#include "kernels/blas_config.h"
#include "kernels/math_kernels.h"

#if FLOWPS_HAVE_OPENBLAS
#include <cblas.h>
#endif

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

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// OpenBLAS's SGEMM on `threads` of its own threads (C = A B, row-major n x n),
// or nullopt in a build without OpenBLAS. Leaves OpenBLAS on one thread, as
// MatMul expects (math_kernels.h).
StatusOr<std::optional<double>> OpenBlasGflops(int64_t n, double seconds, int threads, const Tensor& ta,
                                               const Tensor& tb, Tensor& tc) {
#if FLOWPS_HAVE_OPENBLAS
  openblas_set_num_threads(threads);
  StatusOr<double> rate = MedianGflops(n, seconds, [&]() -> Status {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, ta.data<float>(), n, tb.data<float>(), n,
                0.f, tc.data<float>(), n);
    return Status::OK();
  });
  openblas_set_num_threads(1);
  if (!rate.ok()) return rate.status();
  return std::optional<double>(*rate);
#else
  (void)n, (void)seconds, (void)threads, (void)ta, (void)tb, (void)tc;
  return std::optional<double>();
#endif
}

// Emits `name` beside `baseline` when there is one.
void Emit(BenchContext& ctx, const std::string& name, double value, const std::string& baseline,
          std::optional<double> baseline_value) {
  Measurement m{name, value, "GFLOP/s", std::nullopt, std::nullopt};
  if (baseline_value) {
    m.baseline_name = baseline;
    m.baseline_value = baseline_value;
  }
  ctx.emit(m);
}

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
    Tensor ta(DType::kFloat32, Shape{n, n}), tb(DType::kFloat32, Shape{n, n}), tc(DType::kFloat32, Shape{n, n});
    Eigen::Map<Eigen::ArrayXf>(ta.data<float>(), n * n).setRandom();
    Eigen::Map<Eigen::ArrayXf>(tb.data<float>(), n * n).setRandom();
    FeedList feeds{{a, ta}, {b, tb}};
    auto through = [&](Executor& exec) {
      return [&]() -> Status { return exec.Run(feeds, {c}).status(); };
    };
    auto eigen_engine = [&](ThreadPool* p) {
      return [&, p]() -> Status {
        return kernels::MatMul(ta, tb, false, false, p, kernels::MatMulEngine::kEigen).status();
      };
    };
    const std::string s = std::to_string(n), t = std::to_string(threads) + "threads";

    FLOWPS_ASSIGN_OR_RETURN(std::optional<double> blas_one, OpenBlasGflops(n, o.seconds, 1, ta, tb, tc));
    FLOWPS_ASSIGN_OR_RETURN(double ours_one, MedianGflops(n, o.seconds, through(on_one)));
    Emit(ctx, "matmul_" + s + "_gflops_1thread", ours_one, "openblas_sgemm_" + s + "_gflops_1thread", blas_one);
    FLOWPS_ASSIGN_OR_RETURN(std::optional<double> blas_pool, OpenBlasGflops(n, o.seconds, threads, ta, tb, tc));
    FLOWPS_ASSIGN_OR_RETURN(double ours_pool, MedianGflops(n, o.seconds, through(on_pool)));
    Emit(ctx, "matmul_" + s + "_gflops_" + t, ours_pool, "openblas_sgemm_" + s + "_gflops_" + t, blas_pool);

    Eigen::Map<const RowMatrix> ma(ta.data<float>(), n, n), mb(tb.data<float>(), n, n);
    RowMatrix mc(n, n);
    FLOWPS_ASSIGN_OR_RETURN(double gemm, MedianGflops(n, o.seconds, [&]() -> Status {
      mc.noalias() = ma * mb;
      return Status::OK();
    }));
    FLOWPS_ASSIGN_OR_RETURN(double eigen_one, MedianGflops(n, o.seconds, eigen_engine(nullptr)));
    Emit(ctx, "matmul_eigen_" + s + "_gflops_1thread", eigen_one, "eigen_gemm_" + s + "_gflops_1thread", gemm);

    using TensorMap = Eigen::TensorMap<Eigen::Tensor<const float, 2, Eigen::RowMajor>>;
    TensorMap xa(ta.data<float>(), n, n), xb(tb.data<float>(), n, n);
    Eigen::Tensor<float, 2, Eigen::RowMajor> xc(n, n);
    const Eigen::array<Eigen::IndexPair<int>, 1> dims{Eigen::IndexPair<int>(1, 0)};
    FLOWPS_ASSIGN_OR_RETURN(double contract, MedianGflops(n, o.seconds, [&]() -> Status {
      xc.device(eigen_device) = xa.contract(xb, dims);
      return Status::OK();
    }));
    FLOWPS_ASSIGN_OR_RETURN(double eigen_pool_rate, MedianGflops(n, o.seconds, eigen_engine(pool)));
    Emit(ctx, "matmul_eigen_" + s + "_gflops_" + t, eigen_pool_rate, "eigen_contract_" + s + "_gflops_" + t, contract);
  }
  return Status::OK();
}

}  // namespace

Benchmark MakeMatmulBenchmark() {
  return Benchmark{"matmul",
                   "MatMul GFLOP/s through the executor at 256, 1024, 2048 square, beside OpenBLAS SGEMM and Eigen",
                   RunMatmul};
}

}  // namespace flowps

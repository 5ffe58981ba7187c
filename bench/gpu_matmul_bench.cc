#include "bench/gpu_matmul_bench.h"

#include <random>

#include "device/gpu_config.h"
#include "graph/device_name.h"

#if FLOWPS_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "core/thread_pool.h"
#include "device/cuda_ops.h"
#include "device/device_discovery.h"
#include "device/gpu_device.h"
#include "graph/executor.h"
#include "graph/ops.h"
#endif

namespace flowps {

#if FLOWPS_HAVE_CUDA
namespace {

StatusOr<std::unique_ptr<GpuDevice>> OpenGpu(const std::string& device) {
  FLOWPS_ASSIGN_OR_RETURN(DeviceName name, ParseDeviceName("/job:worker/task:0/device:" + device));
  StatusOr<int> count = NewGpuProbe()->DeviceCount();
  if (!count.ok()) return FailedPrecondition("matmul on " + device + ": no usable GPU (" + count.status().ToString() + ")");
  if (name.device_index >= *count)
    return FailedPrecondition("matmul on " + device + ": " + std::to_string(*count) + " GPU(s) present");
  return GpuDevice::Open(name.device_index, name.ToString());
}

}  // namespace

Status RunGpuMatmul(BenchContext& ctx, const std::string& device, const std::vector<int64_t>& sizes, double seconds) {
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<GpuDevice> gpu, OpenGpu(device));
  ThreadPool* pool = ctx.pool;
  OpRegistry registry;
  FLOWPS_RETURN_IF_ERROR(RegisterStandardOps(&registry));
  FLOWPS_RETURN_IF_ERROR(RegisterCudaKernels(&registry));
  Graph g(&registry);
  Output a = Placeholder(g, DType::kFloat32, Shape{-1, -1}, "a");
  Output b = Placeholder(g, DType::kFloat32, Shape{-1, -1}, "b");
  Output c = MatMul(a, b);
  FLOWPS_RETURN_IF_ERROR(g.status());
  Executor exec(g, pool, gpu.get());
  const std::string suffix = "_gflops_gpu" + std::to_string(gpu->index());

  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int64_t n : sizes) {
    if (ctx.progress) ctx.progress("matmul " + std::to_string(n) + "x" + std::to_string(n) + " on " + device);
    Tensor ha(DType::kFloat32, Shape{n, n}), hb(DType::kFloat32, Shape{n, n});
    for (Tensor* t : {&ha, &hb})
      for (int64_t i = 0; i < n * n; ++i) t->data<float>()[i] = u(rng);
    FLOWPS_ASSIGN_OR_RETURN(Tensor da, gpu->CopyToDevice(ha));
    FLOWPS_ASSIGN_OR_RETURN(Tensor db, gpu->CopyToDevice(hb));
    FLOWPS_ASSIGN_OR_RETURN(Tensor dc, gpu->Allocate(DType::kFloat32, Shape{n, n}));
    const int ni = static_cast<int>(n);
    FLOWPS_ASSIGN_OR_RETURN(double direct, MedianGflops(n, seconds, [&]() -> Status {
      FLOWPS_RETURN_IF_ERROR(gpu->MakeCurrent());
      const float one = 1.f, zero = 0.f;
      cublasStatus_t s = cublasSgemm(gpu->cublas(), CUBLAS_OP_N, CUBLAS_OP_N, ni, ni, ni, &one, db.data<float>(), ni,
                                     da.data<float>(), ni, &zero, dc.data<float>(), ni);
      if (s != CUBLAS_STATUS_SUCCESS) return Internal(std::string("cublasSgemm: ") + cublasGetStatusString(s));
      return gpu->Synchronize();
    }));
    FeedList feeds{{a, da}, {b, db}};
    FLOWPS_ASSIGN_OR_RETURN(double ours, MedianGflops(n, seconds, [&]() -> Status {
      FLOWPS_RETURN_IF_ERROR(exec.Run(feeds, {c}).status());
      return gpu->Synchronize();
    }));
    ctx.emit(Measurement{"matmul_" + std::to_string(n) + suffix, ours, "GFLOP/s",
                         "cublas_sgemm_" + std::to_string(n) + suffix, direct});
  }
  return Status::OK();
}

#else

Status RunGpuMatmul(BenchContext&, const std::string& device, const std::vector<int64_t>&, double) {
  return FailedPrecondition("matmul on " + device +
                            ": flowps was built without CUDA (no nvcc found, or -Dgpu=disabled); rebuild with CUDA on a "
                            "machine with a GPU");
}

#endif

}  // namespace flowps

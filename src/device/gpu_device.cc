#include "device/gpu_device.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

namespace flowps {

Status CudaStatus(int code, const std::string& what) {
  if (code == cudaSuccess) return Status::OK();
  const auto e = static_cast<cudaError_t>(code);
  return Internal(what + ": " + cudaGetErrorName(e) + " (" + std::to_string(code) + "): " + cudaGetErrorString(e));
}

namespace {

class CudaRawAllocator final : public RawDeviceAllocator {
 public:
  explicit CudaRawAllocator(int device) : device_(device) {}
  StatusOr<void*> Allocate(size_t bytes) override {
    cudaError_t e = cudaSetDevice(device_);
    void* p = nullptr;
    if (e == cudaSuccess) e = cudaMalloc(&p, bytes);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // clears the sticky-free error so later launches are not blamed
      return Unavailable("cudaMalloc of " + std::to_string(bytes) + " bytes on gpu:" + std::to_string(device_) +
                         ": out of memory");
    }
    if (e != cudaSuccess) return CudaStatus(e, "cudaMalloc");
    return p;
  }
  void Free(void* ptr) override {
    cudaSetDevice(device_);
    cudaFree(ptr);
  }

 private:
  int device_;
};

}  // namespace

// The allocator and its backend, shared by the device and every buffer it handed out.
struct GpuDevice::Memory {
  explicit Memory(int device) : raw(device), cache(&raw) {}
  CudaRawAllocator raw;
  CachingAllocator cache;
};

GpuDevice::GpuDevice(int index, std::string name)
    : index_(index), name_(std::move(name)), memory_(std::make_shared<Memory>(index)) {}

StatusOr<std::unique_ptr<GpuDevice>> GpuDevice::Open(int index, std::string name) {
  std::unique_ptr<GpuDevice> d(new GpuDevice(index, std::move(name)));
  FLOWPS_RETURN_IF_ERROR(d->MakeCurrent());
  cudaStream_t stream = nullptr;
  FLOWPS_RETURN_IF_ERROR(CudaStatus(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate"));
  d->stream_ = stream;
  cublasHandle_t handle = nullptr;
  cublasStatus_t bs = cublasCreate(&handle);
  if (bs != CUBLAS_STATUS_SUCCESS)
    return Internal("cublasCreate on gpu:" + std::to_string(index) + ": " + cublasGetStatusString(bs));
  d->cublas_ = handle;
  bs = cublasSetStream(handle, stream);
  if (bs != CUBLAS_STATUS_SUCCESS) return Internal(std::string("cublasSetStream: ") + cublasGetStatusString(bs));
  return d;
}

GpuDevice::~GpuDevice() {
  cudaSetDevice(index_);
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  if (cublas_ != nullptr) cublasDestroy(cublas_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

Status GpuDevice::MakeCurrent() const {
  return CudaStatus(cudaSetDevice(index_), "cudaSetDevice(" + std::to_string(index_) + ")");
}

StatusOr<Tensor> GpuDevice::Allocate(DType dtype, Shape shape) {
  FLOWPS_RETURN_IF_ERROR(MakeCurrent());
  const size_t bytes = static_cast<size_t>(shape.num_elements()) * DTypeSize(dtype);
  FLOWPS_ASSIGN_OR_RETURN(void* block, memory_->cache.Allocate(bytes));
  std::shared_ptr<Memory> memory = memory_;
  std::shared_ptr<void> owner(block, [memory](void* p) { (void)memory->cache.Free(p); });
  return Tensor(dtype, std::move(shape), Buffer::WrapDevice(block, bytes, index_, std::move(owner)));
}

Status GpuDevice::WaitForStream(const char* what) {
  cudaEvent_t done = nullptr;
  FLOWPS_RETURN_IF_ERROR(CudaStatus(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate"));
  cudaError_t e = cudaEventRecord(done, stream_);
  if (e == cudaSuccess) e = cudaEventSynchronize(done);
  cudaEventDestroy(done);
  return CudaStatus(e, what);
}

StatusOr<Tensor> GpuDevice::CopyToDevice(const Tensor& host) {
  if (host.on_device()) return InvalidArgument("CopyToDevice: the tensor is already on a GPU");
  FLOWPS_ASSIGN_OR_RETURN(Tensor out, Allocate(host.dtype(), host.shape()));
  FLOWPS_RETURN_IF_ERROR(CudaStatus(
      cudaMemcpyAsync(out.raw_data(), host.raw_data(), host.num_bytes(), cudaMemcpyHostToDevice, stream_),
      "copying to " + name_));
  FLOWPS_RETURN_IF_ERROR(WaitForStream("waiting for a copy to the GPU"));
  return out;
}

StatusOr<Tensor> GpuDevice::CopyToHost(const Tensor& device) {
  if (!device.on_device() || device.buffer()->device() != index_)
    return InvalidArgument("CopyToHost: the tensor is not on " + name_);
  FLOWPS_RETURN_IF_ERROR(MakeCurrent());
  Tensor out(device.dtype(), device.shape());
  FLOWPS_RETURN_IF_ERROR(CudaStatus(
      cudaMemcpyAsync(out.raw_data(), device.raw_data(), device.num_bytes(), cudaMemcpyDeviceToHost, stream_),
      "copying from " + name_));
  FLOWPS_RETURN_IF_ERROR(WaitForStream("waiting for a copy from the GPU"));
  return out;
}

Status GpuDevice::Synchronize() {
  FLOWPS_RETURN_IF_ERROR(MakeCurrent());
  return WaitForStream("synchronizing the GPU stream");
}

AllocatorStats GpuDevice::allocator_stats() const { return memory_->cache.stats(); }

}  // namespace flowps

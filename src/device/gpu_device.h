// GpuDevice: one CUDA GPU of a worker (built only with CUDA, see gpu_config.h).
//
// It owns the GPU's one stream (every kernel of the device is enqueued on it,
// so work is ordered as the executor issues it), a cuBLAS handle bound to that
// stream, and a CachingAllocator over cudaMalloc. Tensors it allocates have
// device buffers (Tensor::on_device()); the buffer's owner returns the block
// to the cache, and keeps the cache alive, so tensors may outlive the device
// object. Host<->device copies record an event on the stream and wait for it,
// so a copied tensor is complete when the call returns.
// Thread safety: every method may be called from any thread (each sets the
// device current for the calling thread first); the stream serialises the
// device work.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "core/tensor.h"
#include "device/caching_allocator.h"
#include "graph/device.h"

struct CUstream_st;
struct cublasContext;

namespace flowps {

class GpuDevice final : public Device {
 public:
  // Opens GPU `index` under the full device `name`: its stream and cuBLAS
  // handle. An error naming the CUDA call and its code when one fails.
  static StatusOr<std::unique_ptr<GpuDevice>> Open(int index, std::string name);
  ~GpuDevice() override;
  GpuDevice(const GpuDevice&) = delete;
  GpuDevice& operator=(const GpuDevice&) = delete;

  const std::string& name() const override { return name_; }
  DeviceType type() const override { return DeviceType::kGPU; }
  int index() const { return index_; }
  CUstream_st* stream() const { return stream_; }
  cublasContext* cublas() const { return cublas_; }

  // Makes this GPU current for the calling thread.
  Status MakeCurrent() const;
  // Uninitialised device memory for a tensor.
  StatusOr<Tensor> Allocate(DType dtype, Shape shape);
  // A device copy of a host tensor; returns when the copy is done.
  StatusOr<Tensor> CopyToDevice(const Tensor& host);
  // A host copy of a device tensor (of this GPU); returns when the copy is done.
  StatusOr<Tensor> CopyToHost(const Tensor& device);
  // Waits for all work enqueued so far.
  Status Synchronize();
  AllocatorStats allocator_stats() const;

 private:
  struct Memory;
  GpuDevice(int index, std::string name);
  Status WaitForStream(const char* what);

  int index_;
  std::string name_;
  CUstream_st* stream_ = nullptr;
  cublasContext* cublas_ = nullptr;
  std::shared_ptr<Memory> memory_;
};

// A Status for a failed CUDA runtime call: "<what>: cudaErrorX (code): message".
Status CudaStatus(int code, const std::string& what);

}  // namespace flowps

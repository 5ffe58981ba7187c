// CachingAllocator: device memory handed out in size buckets and kept for
// reuse when freed, so a training loop that allocates the same shapes every
// step stops calling cudaMalloc after its first step.
//
// Buckets: requests are rounded up to a multiple of 512 bytes below 1 MiB and
// to a multiple of 2 MiB above. A freed block goes back to the free list of
// its bucket and is handed out again for a request of the same bucket. When
// the backend refuses an allocation, the cached blocks are released and the
// allocation is tried once more.
//
// Stream ordering: blocks are reused without waiting for the device; this is
// safe because every kernel of a device runs on that device's one stream, so
// work that used a block is ordered before work that reuses it (the same rule
// as PyTorch's allocator).
// Thread safety: all methods may be called from many threads (one mutex).
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace flowps {

// The raw allocation the cache sits on (cudaMalloc/cudaFree; a fake in tests).
class RawDeviceAllocator {
 public:
  virtual ~RawDeviceAllocator() = default;
  // An error naming the cause (Unavailable when out of memory) when refused.
  virtual StatusOr<void*> Allocate(size_t bytes) = 0;
  virtual void Free(void* ptr) = 0;
};

struct AllocatorStats {
  size_t bytes_in_use = 0;     // held by callers, in bucket sizes
  size_t bytes_cached = 0;     // freed by callers, kept for reuse
  size_t peak_bytes_in_use = 0;
  int64_t raw_allocations = 0; // calls to the backend that succeeded
  int64_t cache_hits = 0;      // requests served from the cache
  int64_t raw_failures = 0;    // backend refusals (each retried once after a flush)
};

class CachingAllocator {
 public:
  // REQUIRES: raw outlives the allocator.
  explicit CachingAllocator(RawDeviceAllocator* raw) : raw_(raw) {}
  // Gives every cached block back to the backend. Blocks still in use are the
  // owners' (a Tensor keeps its allocator alive through its buffer's owner).
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // The bucket size a request of `bytes` is rounded up to (at least 512).
  static size_t BucketSize(size_t bytes);

  // A block of at least `bytes`; the error of the backend if it refuses even
  // after the cache was flushed.
  StatusOr<void*> Allocate(size_t bytes);
  // Returns a block from Allocate to the cache. InvalidArgument for a pointer
  // this allocator did not hand out (or handed out and got back already).
  Status Free(void* ptr);
  // Gives the cached (free) blocks back to the backend.
  void EmptyCache();
  AllocatorStats stats() const;

 private:
  void EmptyCacheLocked();

  RawDeviceAllocator* raw_;
  mutable std::mutex mu_;
  std::unordered_map<void*, size_t> in_use_;         // guarded by mu_: block -> bucket size
  std::map<size_t, std::vector<void*>> free_blocks_;  // guarded by mu_: bucket size -> blocks
  AllocatorStats stats_;                              // guarded by mu_
};

}  // namespace flowps

#include "device/caching_allocator.h"

#include <algorithm>
#include <string>

namespace flowps {
namespace {
constexpr size_t kSmallRound = 512;
constexpr size_t kLargeThreshold = size_t{1} << 20;
constexpr size_t kLargeRound = size_t{2} << 20;
}  // namespace

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mu_);
  EmptyCacheLocked();
}

size_t CachingAllocator::BucketSize(size_t bytes) {
  const size_t round = bytes <= kLargeThreshold ? kSmallRound : kLargeRound;
  return std::max<size_t>(kSmallRound, (bytes + round - 1) / round * round);
}

StatusOr<void*> CachingAllocator::Allocate(size_t bytes) {
  const size_t size = BucketSize(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  void* block = nullptr;
  if (auto it = free_blocks_.find(size); it != free_blocks_.end() && !it->second.empty()) {
    block = it->second.back();
    it->second.pop_back();
    stats_.bytes_cached -= size;
    ++stats_.cache_hits;
  } else {
    StatusOr<void*> raw = raw_->Allocate(size);
    if (!raw.ok()) {
      ++stats_.raw_failures;
      EmptyCacheLocked();
      raw = raw_->Allocate(size);
      if (!raw.ok()) {
        ++stats_.raw_failures;
        return raw.status().WithContext("allocating " + std::to_string(size) + " bytes of device memory (" +
                                        std::to_string(stats_.bytes_in_use) + " bytes in use)");
      }
    }
    block = *raw;
    ++stats_.raw_allocations;
  }
  in_use_[block] = size;
  stats_.bytes_in_use += size;
  stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  return block;
}

Status CachingAllocator::Free(void* ptr) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = in_use_.find(ptr);
  if (it == in_use_.end()) return InvalidArgument("freeing device memory that this allocator does not hold");
  const size_t size = it->second;
  in_use_.erase(it);
  stats_.bytes_in_use -= size;
  stats_.bytes_cached += size;
  free_blocks_[size].push_back(ptr);
  return Status::OK();
}

void CachingAllocator::EmptyCache() {
  std::lock_guard<std::mutex> lock(mu_);
  EmptyCacheLocked();
}

void CachingAllocator::EmptyCacheLocked() {
  for (auto& [size, blocks] : free_blocks_)
    for (void* b : blocks) raw_->Free(b);
  free_blocks_.clear();
  stats_.bytes_cached = 0;
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace flowps

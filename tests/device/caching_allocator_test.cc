#include <catch2/catch.hpp>

#include <set>

#include "device/caching_allocator.h"

using namespace flowps;

namespace {

// Hands out distinct fake addresses; refuses when `capacity` bytes would be exceeded.
class FakeRawAllocator final : public RawDeviceAllocator {
 public:
  explicit FakeRawAllocator(size_t capacity) : capacity_(capacity) {}
  StatusOr<void*> Allocate(size_t bytes) override {
    ++calls;
    if (live_bytes + bytes > capacity_) return Unavailable("fake device is full");
    live_bytes += bytes;
    void* p = reinterpret_cast<void*>(next_);
    next_ += bytes + 4096;
    sizes_[p] = bytes;
    return p;
  }
  void Free(void* ptr) override {
    ++frees;
    live_bytes -= sizes_.at(ptr);
    sizes_.erase(ptr);
  }
  size_t live_bytes = 0;
  int calls = 0;
  int frees = 0;

 private:
  size_t capacity_;
  uintptr_t next_ = 0x10000;
  std::map<void*, size_t> sizes_;
};

}  // namespace

TEST_CASE("requests are rounded up to size buckets") {
  CHECK(CachingAllocator::BucketSize(0) == 512);
  CHECK(CachingAllocator::BucketSize(1) == 512);
  CHECK(CachingAllocator::BucketSize(512) == 512);
  CHECK(CachingAllocator::BucketSize(513) == 1024);
  CHECK(CachingAllocator::BucketSize(1 << 20) == 1 << 20);
  CHECK(CachingAllocator::BucketSize((1 << 20) + 1) == 2 << 20);
  CHECK(CachingAllocator::BucketSize((5 << 20) + 7) == 6 << 20);
}

TEST_CASE("a freed block is reused for a request of the same bucket without asking the device") {
  FakeRawAllocator raw(1 << 30);
  CachingAllocator alloc(&raw);
  void* a = *alloc.Allocate(1000);
  REQUIRE(alloc.Free(a).ok());
  CHECK(alloc.stats().bytes_cached == 1024);
  void* b = *alloc.Allocate(900);  // same 1024-byte bucket
  CHECK(b == a);
  CHECK(raw.calls == 1);
  AllocatorStats s = alloc.stats();
  CHECK(s.cache_hits == 1);
  CHECK(s.raw_allocations == 1);
  CHECK(s.bytes_in_use == 1024);
  CHECK(s.bytes_cached == 0);
}

TEST_CASE("blocks of other buckets are not reused and live blocks are never handed out twice") {
  FakeRawAllocator raw(1 << 30);
  CachingAllocator alloc(&raw);
  void* small = *alloc.Allocate(100);
  REQUIRE(alloc.Free(small).ok());
  void* big = *alloc.Allocate(5000);
  CHECK(big != small);
  std::set<void*> live{big};
  for (int i = 0; i < 10; ++i) CHECK(live.insert(*alloc.Allocate(5000)).second);
  CHECK(raw.calls == 12);
  CHECK(alloc.stats().peak_bytes_in_use == 11 * 5120);
}

TEST_CASE("a training loop that allocates the same sizes every step stops calling the device") {
  FakeRawAllocator raw(1 << 30);
  CachingAllocator alloc(&raw);
  const size_t sizes[] = {784 * 128 * 4, 128 * 4, 128 * 10 * 4, 64 * 10 * 4};
  for (int step = 0; step < 5; ++step) {
    std::vector<void*> held;
    for (size_t s : sizes) held.push_back(*alloc.Allocate(s));
    for (void* p : held) REQUIRE(alloc.Free(p).ok());
  }
  CHECK(raw.calls == 4);
  CHECK(alloc.stats().cache_hits == 16);
}

TEST_CASE("when the device is full the cache is flushed and the allocation retried once") {
  FakeRawAllocator raw(4096);
  CachingAllocator alloc(&raw);
  void* a = *alloc.Allocate(3000);  // bucket 3072
  REQUIRE(alloc.Free(a).ok());
  StatusOr<void*> b = alloc.Allocate(2000);  // bucket 2048: 3072 + 2048 > 4096
  REQUIRE(b.ok());
  CHECK(raw.frees == 1);
  CHECK(alloc.stats().raw_failures == 1);
  CHECK(alloc.stats().bytes_cached == 0);

  StatusOr<void*> c = alloc.Allocate(3000);  // 2048 in use + 3072 > 4096, nothing cached
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().ToString().find("fake device is full") != std::string::npos);
  CHECK(alloc.stats().bytes_in_use == 2048);
}

TEST_CASE("freeing a pointer the allocator does not hold is refused and changes nothing") {
  FakeRawAllocator raw(1 << 20);
  CachingAllocator alloc(&raw);
  void* a = *alloc.Allocate(10);
  int not_ours = 0;
  CHECK_FALSE(alloc.Free(&not_ours).ok());
  REQUIRE(alloc.Free(a).ok());
  CHECK_FALSE(alloc.Free(a).ok());  // twice
  CHECK(alloc.stats().bytes_cached == 512);
  CHECK(alloc.stats().bytes_in_use == 0);
}

TEST_CASE("emptying the cache, or destroying the allocator, gives cached blocks back to the device") {
  FakeRawAllocator raw(1 << 20);
  {
    CachingAllocator alloc(&raw);
    void* a = *alloc.Allocate(10);
    void* b = *alloc.Allocate(1000);
    REQUIRE(alloc.Free(a).ok());
    alloc.EmptyCache();
    CHECK(raw.frees == 1);
    CHECK(raw.live_bytes == 1024);
    REQUIRE(alloc.Free(b).ok());
  }
  CHECK(raw.frees == 2);
  CHECK(raw.live_bytes == 0);
}

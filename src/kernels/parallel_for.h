// ParallelFor: runs fn(0) .. fn(n-1) on the calling thread and on idle pool
// threads, and returns when all have run. Blocks are claimed from a shared
// counter, so the caller never waits on a block that is still queued: it is
// safe to call from a pool thread even when every other pool thread is busy.
#pragma once

#include <cstdint>
#include <functional>

namespace flowps {
class ThreadPool;
}

namespace flowps::kernels {

// `pool` may be null (runs everything on the caller).
void ParallelFor(ThreadPool* pool, int64_t n, const std::function<void(int64_t)>& fn);

}  // namespace flowps::kernels

#include "core/memory_tuning.h"

#include <malloc.h>

namespace flowps {

void KeepLargeBuffersResident() {
  mallopt(M_ARENA_MAX, 1);                  // one heap, so freed blocks are found again
  mallopt(M_MMAP_MAX, 0);                   // never mmap a block, whatever its size
  mallopt(M_TRIM_THRESHOLD, 0x7fffffff);    // never give the heap's top back (2 GiB - 1, mallopt's int)
}

void KeepFreedBuffersOffTheHeap() {
  mallopt(M_MMAP_THRESHOLD, 1 << 20);  // fixed: freeing a large buffer no longer raises it
  mallopt(M_TRIM_THRESHOLD, 4 << 20);  // a step's smaller buffers stay mapped (fixing the threshold above left 128 KiB)
  mallopt(M_ARENA_MAX, 2);
}

void ReleaseFreeMemory() { malloc_trim(0); }

}  // namespace flowps

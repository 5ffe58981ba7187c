// Memory tuning for processes that move large tensors (the ps daemon, and the
// pushpull benchmark that plays both ends).
//
// Every large RPC message gets a fresh buffer from Cap'n Proto. With glibc's
// defaults a buffer over 32 MiB is mmap'ed and unmapped again, so each push
// and pull pays a page fault per 4 KiB (measured: about 40% of a 64 MiB
// transfer's time went to faults). KeepLargeBuffersResident makes malloc serve
// every size from one heap and never give freed memory back on its own, so the
// buffers of the next message reuse pages that are already there. The cost:
// while busy the process keeps its peak memory, and one arena for all threads.
// ReleaseFreeMemory gives the free pages back; the ps calls it once it has
// been idle for a while (ParameterServerOptions::idle_release_after), so an
// idle ps holds about its state, not its peak.
// Call KeepLargeBuffersResident at the start of main, before other threads run.
#pragma once

namespace flowps::ps {

void KeepLargeBuffersResident();

// Returns the heap's free pages to the system (malloc_trim). Thread-safe; it
// walks the heap, so call it when idle, off the RPC loop.
void ReleaseFreeMemory();

}  // namespace flowps::ps

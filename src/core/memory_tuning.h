// Memory tuning of a daemon's heap (glibc malloc), chosen in its main().
//
// The ps moves large tensors: every large RPC message gets a fresh buffer
// from Cap'n Proto. With glibc's defaults a buffer over 32 MiB is mmap'ed and
// unmapped again, so each push and pull pays a page fault per 4 KiB
// (measured: about 40% of a 64 MiB transfer's time went to faults).
// KeepLargeBuffersResident makes malloc serve every size from one heap and
// never give freed memory back on its own, so the buffers of the next message
// reuse pages that are already there. The cost: while busy the process keeps
// its peak memory, and one arena for all threads. ReleaseFreeMemory gives the
// free pages back; the ps calls it once it has been idle for a while
// (ParameterServerOptions::idle_release_after), so an idle ps holds about its
// state, not its peak.
//
// A worker holds the model's parameters, its gradients and the pulled values
// while they are copied in; what it frees between steps should not stay
// resident. With glibc's defaults a freed mmap'ed buffer raises the mmap
// threshold to its size (up to 32 MiB), after which buffers of that size come
// from per-thread arenas that keep their free pages: measured, a worker of an
// MLP 784-4096-4096-10 held 3.4-3.6x its parameters at its peak instead of
// about 3x (docs/PERFORMANCE.md). KeepFreedBuffersOffTheHeap fixes the
// threshold at 1 MiB (every larger buffer is mmap'ed and unmapped when freed)
// and uses at most 2 arenas. The cost: a page fault per 4 KiB of each new
// large buffer, which only models with tensors over 1 MiB pay. Fixing the
// threshold also fixes glibc's trim threshold at its 128 KiB default, so the
// heap's top was given back and faulted in again every step (measured: 285
// page faults per step of a worker of the MLP 784-256-10); the heap now keeps
// up to 4 MiB free at its top (about 17% less CPU per step, docs/PERFORMANCE.md).
//
// Call one of them at the start of main, before other threads run.
#pragma once

namespace flowps {

// For the ps (see above).
void KeepLargeBuffersResident();

// For a worker (see above).
void KeepFreedBuffersOffTheHeap();

// Returns the heap's free pages to the system (malloc_trim). Thread-safe; it
// walks the heap, so call it when idle, off the RPC loop.
void ReleaseFreeMemory();

}  // namespace flowps

// A floor under the stack size that libraries request for their threads.
//
// glibc places a thread's static TLS on its stack and refuses (EINVAL) a
// pthread_create whose requested stack cannot hold it (glibc bug 11787). The
// static TLS of a worker is the sum over its libraries: with the CUDA build,
// cuBLAS, cuBLASLt, cudart and OpenBLAS alone hold about 170 KiB, more than the
// 100 KiB that Debian's civetweb asks for its threads, so the /metrics
// endpoint and the dashboard could not start ("null context when constructing
// CivetServer"). This definition interposes pthread_attr_setstacksize for the
// whole process and raises any request below kStackFloor to it; larger
// requests are passed on unchanged.
#include <dlfcn.h>
#include <pthread.h>

#include <algorithm>
#include <cstddef>

namespace {
constexpr size_t kStackFloor = 1 << 20;  // 1 MiB: static TLS plus what civetweb's handlers need
using SetStackSize = int (*)(pthread_attr_t*, size_t);
}  // namespace

extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr, size_t size) {
  static const SetStackSize next = reinterpret_cast<SetStackSize>(dlsym(RTLD_NEXT, "pthread_attr_setstacksize"));
  return next(attr, std::max(size, kStackFloor));
}

// The `gpu` suite of a build without CUDA: says why and exits 77, so meson
// reports it SKIPPED (never passed).
#include <cstdio>

int main() {
  std::printf("SKIPPED: flowps was built without CUDA (no nvcc found, or -Dgpu=disabled); the gpu suite needs a CUDA build and a GPU\n");
  return 77;
}

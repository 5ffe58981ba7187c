// The cluster spec loader on any text: a spec or an error naming file:line:key.
#include <cstdint>
#include <fstream>
#include <string>

#include "core/cluster_spec.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    const std::string& d = flowps::fuzz::ScratchDir();
    std::ofstream(d + "/local.token") << "fuzz-token\n";
    return d;
  }();
  auto spec = flowps::ParseClusterSpec(std::string(reinterpret_cast<const char*>(data), size), dir + "/cluster.yaml");
  if (!spec.ok() && spec.status().message().rfind(dir + "/cluster.yaml", 0) != 0) __builtin_trap();
  return 0;
}

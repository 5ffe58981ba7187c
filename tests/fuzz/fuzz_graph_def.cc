// The GraphDef loader (graph/graph_def) on any bytes: a graph is built or
// refused with a Status, never a crash.
#include <cstdint>
#include <string_view>

#include "graph/graph_def.h"
#include "graph/op_registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static flowps::OpRegistry* registry = [] {
    auto* r = new flowps::OpRegistry();
    if (!flowps::RegisterStandardOps(r).ok()) __builtin_trap();
    return r;
  }();
  auto graph = flowps::DeserializeGraph(std::string_view(reinterpret_cast<const char*>(data), size), registry);
  (void)graph;
  return 0;
}

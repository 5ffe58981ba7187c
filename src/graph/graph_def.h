// GraphDef (de)serialization: a Graph to Cap'n Proto bytes (graph_def.capnp)
// and back.
//
// Saved: node names, ops, inputs, control inputs, attributes (every AttrValue
// kind, tensors included; so also variable initializers, see model_roles.h),
// requested devices as written, and the graph's roles; not assigned devices
// (run placement again). Roles are resolved to nodes when loading; whether the
// graph is a complete model is ValidateModel's question, not the loader's. Loading re-runs every op's shape function, so a loaded
// graph is checked like a built one. Corrupt or hostile bytes never crash:
// they give InvalidArgument saying what is wrong (an unknown op, a reference
// to a node that is not defined earlier, a malformed message, ...).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "graph/graph.h"

namespace flowps {

StatusOr<std::string> SerializeGraph(const Graph& graph);
// REQUIRES: registry outlives the returned graph.
StatusOr<std::unique_ptr<Graph>> DeserializeGraph(std::string_view bytes, const OpRegistry* registry);

// The same through a file; errors name the path.
Status WriteGraphFile(const Graph& graph, const std::string& path);
StatusOr<std::unique_ptr<Graph>> ReadGraphFile(const std::string& path, const OpRegistry* registry);

}  // namespace flowps

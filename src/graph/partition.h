// Partition: a pure graph-to-graph pass that splits a placed graph into one
// graph per assigned device.
//
// Every data edge that crosses devices becomes a Send on the source device and
// a Recv on the destination device, joined by a deterministic key
// (SendRecvKey). There is one Send/Recv pair per (tensor, destination device),
// however many consumers the tensor has there. A control edge across devices
// becomes a Send of an empty signal (an int32 scalar) from a Send whose control
// input is the source node, and a control input on the matching Recv.
// Original nodes keep their names, attributes and requested devices; Send and
// Recv nodes get names starting with "_send_" / "_recv_".
// REQUIRES: every node has an assigned device (run PlaceGraph first).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/status.h"
#include "graph/graph.h"

namespace flowps {

// "src_device;src_node:index;dst_device" for a tensor, and
// "src_device;^src_node;dst_device" for a control edge.
std::string SendRecvKey(const std::string& src_device, const std::string& tensor_name,
                        const std::string& dst_device);

// The partitions, one per device, keyed (and ordered) by device name. Each
// graph uses the registry of `graph`. With `roots`, only the nodes they need
// (through data and control inputs) are kept; empty `roots` keeps every node.
StatusOr<std::map<std::string, std::unique_ptr<Graph>>> PartitionGraph(const Graph& graph,
                                                                       const std::vector<Node*>& roots = {});

// The nodes of `graph` in an order where every node comes after its data and
// control inputs (ties by node id); FailedPrecondition naming a node on a cycle.
StatusOr<std::vector<Node*>> TopologicalOrder(const Graph& graph);

}  // namespace flowps

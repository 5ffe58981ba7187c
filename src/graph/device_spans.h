// DeviceSpans: a NodeObserver (graph/executor.h) that keeps the span of every
// kernel a step runs, with the device the node was placed on, and what the
// spans show about pipelining: how long kernels of two or more devices ran at
// the same time. Send and Recv are kept but count as no work (a Recv mostly
// waits for its value). Thread-safe: NodeRan takes a mutex for one push_back.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "graph/executor.h"

namespace flowps {

class DeviceSpans final : public NodeObserver {
 public:
  struct Span {
    std::string device;  // the node's assigned device ("" if none)
    std::string node, op;
    Clock::time_point start, end;
  };

  void NodeRan(const Node& node, Clock::time_point start, Clock::time_point end) override;

  std::vector<Span> spans() const;  // a copy, in the order the kernels ended
  void Clear();

  // Seconds during which kernels (not Send/Recv) of at least two devices ran.
  double OverlapSeconds() const;
  // Seconds during which a kernel (not Send/Recv) of any device ran.
  double BusySeconds() const;

 private:
  mutable std::mutex mu_;
  std::vector<Span> spans_;  // guarded by mu_
};

}  // namespace flowps

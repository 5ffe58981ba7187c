// KernelServices: what a step offers the stateful kernels (Variable, Assign,
// Send, Recv). The executor passes one to every KernelContext of a step.
#pragma once

#include <functional>
#include <string>

#include "core/status.h"
#include "core/tensor.h"

namespace flowps {

// The Send/Recv half on its own, so a rendezvous can be combined with a
// VariableStore (see StepServices in variable_store.h).
class TensorTransfer {
 public:
  virtual ~TensorTransfer() = default;
  virtual Status Send(const std::string& key, Tensor value) = 0;
  virtual void RecvAsync(const std::string& key, std::function<void(StatusOr<Tensor>)> done) = 0;
};

class KernelServices {
 public:
  virtual ~KernelServices() = default;

  // The current value of a variable (read at most once per step per variable).
  virtual StatusOr<Tensor> ReadVariable(const std::string& name) = 0;
  // Stages a new value; it is committed only if the whole step succeeds, so a
  // failed step leaves every variable untouched.
  virtual Status StageAssign(const std::string& name, Tensor value) = 0;

  // Send/Recv across devices. Keys are deterministic (see partition.h).
  // Recv is asynchronous: `done` runs once the tensor is there, or with an error.
  virtual Status Send(const std::string& key, Tensor value) = 0;
  virtual void RecvAsync(const std::string& key, std::function<void(StatusOr<Tensor>)> done) = 0;
};

}  // namespace flowps

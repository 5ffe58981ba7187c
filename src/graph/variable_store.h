// VariableStore: the variables of one process, by name; and StepServices, the
// KernelServices of one step, which reads from a store and stages writes that
// are committed only when the whole step succeeded.
//
// Variables are values: a commit swaps in new Tensors and never writes into a
// buffer a reader may hold, so a step sees the values it read, whatever
// commits happen meanwhile.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "graph/kernel_services.h"

namespace flowps {

// Thread-safe: one mutex guards the map; no method holds it while computing.
class VariableStore final {
 public:
  // Creates the variable, or replaces its value (dtype and shape may change).
  void Set(const std::string& name, Tensor value);
  // NotFound naming the variable if it does not exist.
  StatusOr<Tensor> Read(const std::string& name) const;
  bool Contains(const std::string& name) const;
  std::vector<std::string> Names() const;  // sorted
  // Applies every write or none: each must name an existing variable and keep
  // its dtype and shape, else InvalidArgument naming the first that does not.
  Status Commit(const std::map<std::string, Tensor>& writes);

 private:
  mutable std::mutex mu_;
  std::map<std::string, Tensor> vars_;  // guarded by mu_
};

// The services of one step. Kernels of the step call it from many threads; a
// mutex guards the staged writes. Send/Recv go to `transfer`.
class StepServices final : public KernelServices {
 public:
  // Either may be null: reads/writes (resp. Send/Recv) then fail with
  // FailedPrecondition. REQUIRES: both outlive this object.
  StepServices(VariableStore* store, TensorTransfer* transfer) : store_(store), transfer_(transfer) {}

  StatusOr<Tensor> ReadVariable(const std::string& name) override;
  // Checks dtype and shape against the current value; a second write to the
  // same variable in one step is refused.
  Status StageAssign(const std::string& name, Tensor value) override;
  Status Send(const std::string& key, Tensor value) override;
  void RecvAsync(const std::string& key, std::function<void(StatusOr<Tensor>)> done) override;

  // Commits the staged writes to the store (all or none). Call once, after
  // every kernel of the step has finished successfully.
  Status CommitStaged();

 private:
  VariableStore* store_;
  TensorTransfer* transfer_;
  std::mutex mu_;
  std::map<std::string, Tensor> staged_;  // guarded by mu_
};

}  // namespace flowps

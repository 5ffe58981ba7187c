// Optimizers: the one place where optimizer math lives (the parameter server
// and the single-process trainer both call it).
//
// An Optimizer updates a float32 variable in place from a gradient, keeping its
// per-variable state in slot tensors of the variable's shape (MakeSlots).
// Formulas (g: gradient, t: the global step of this update, counted from 1):
//   sgd       var -= lr * g
//   momentum  acc = momentum * acc + g
//             var -= lr * acc                           (nesterov: var -= lr * (g + momentum * acc))
//   adagrad   acc += g * g
//             var -= lr * g / (sqrt(acc) + epsilon)      (acc starts at initial_accumulator)
//   adam      m = beta1 * m + (1 - beta1) * g
//             v = beta2 * v + (1 - beta2) * g * g
//             var -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)
//   ftrl      (FTRL-Proximal, McMahan et al. 2013, learning-rate power -0.5)
//             n' = n + g * g
//             z += g - (sqrt(n') - sqrt(n)) / lr * var;  n = n'
//             var = |z| <= l1 ? 0 : (sign(z) * l1 - z) / (sqrt(n) / lr + 2 * l2)
//                                                        (n starts at initial_accumulator)
// These are TensorFlow's ApplyGradientDescent/ApplyMomentum/ApplyAdagradV2/ApplyAdam/ApplyFtrl.
//
// Sparse updates (rows by index) touch only the rows pushed, slots included
// ("lazy" Adam). Duplicate indices are summed first, as TensorFlow's optimizers
// do, so a row is updated once per push.
//
// Every Apply validates all of its inputs before it writes anything: on error
// the variable and its slots are unchanged. Thread safety: an Optimizer is
// immutable; concurrent applies to the same variable must be serialised by the
// caller (the ps holds the variable's mutex).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "core/train_config.h"  // OptimizerKind, OptimizerConfig

namespace flowps {

class ThreadPool;

namespace kernels {

class Optimizer {
 public:
  // REQUIRES: config.Validate().ok().
  explicit Optimizer(OptimizerConfig config) : config_(config) {}

  const OptimizerConfig& config() const { return config_; }
  // Slot names in the order MakeSlots returns them: {} for sgd, {"accumulator"}
  // for momentum and adagrad, {"m", "v"} for adam, {"accumulator", "linear"} for ftrl.
  std::vector<std::string> SlotNames() const;
  // The value every element of slot i starts at (SlotNames() order).
  float SlotInitialValue(size_t i) const;
  // Fresh, initialised slots for a variable of `shape`.
  std::vector<Tensor> MakeSlots(const Shape& shape) const;

  // var <- update(var, slots, grad). `step` is this update's global step,
  // counted from 1 (Adam's bias correction). If `pool` is given, large
  // variables are updated in parallel chunks on it (the call still returns only
  // when the update is complete).
  // REQUIRES: slots come from MakeSlots(var.shape()).
  Status ApplyDense(Tensor& var, std::vector<Tensor>& slots, const Tensor& grad, int64_t step,
                    ThreadPool* pool = nullptr) const;
  // Updates rows `indices` (int32 or int64, rank 1, in [0, var.dim(0))) of a
  // variable of rank >= 1 from `rows` of shape [len(indices), var.shape[1:]...].
  Status ApplySparse(Tensor& var, std::vector<Tensor>& slots, const Tensor& indices,
                     const Tensor& rows, int64_t step) const;
  // Applies the update to `n` contiguous elements: `var`, each slots[i] (one
  // pointer per SlotNames() entry) and `grad` point at n floats each. For
  // stores with their own layout (the ps's embedding tables). No checks.
  void ApplyRange(float* var, float* const* slots, const float* grad, int64_t n,
                  int64_t step) const;

 private:
  Status CheckVarAndSlots(const Tensor& var, const std::vector<Tensor>& slots) const;

  OptimizerConfig config_;
};

// Reads int32 or int64 indices into int64. InvalidArgument unless rank 1 and
// every index is in [0, limit).
StatusOr<std::vector<int64_t>> ReadRowIndices(const Tensor& indices, int64_t limit,
                                              const std::string& what);

}  // namespace kernels
}  // namespace flowps

// How a job trains: the optimizer, the training mode and the staleness
// policy. The one C++ definition of each, used by the job spec, the
// single-process trainer, the optimizer kernels, the ps and the ps client.
// Their wire form (Cap'n Proto enums in net/schema/ps.capnp) is written and
// read in one place: net/config_wire.h. Value types.
#pragma once

#include <string>

#include "core/status.h"

namespace flowps {

enum class OptimizerKind { kSgd, kMomentum, kAdagrad, kAdam, kFtrl };

const char* OptimizerKindName(OptimizerKind kind);  // "sgd", "momentum", "adagrad", "adam", "ftrl"
StatusOr<OptimizerKind> ParseOptimizerKind(const std::string& name);

// An optimizer and its hyper-parameters (formulas: kernels/optimizers.h).
struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::kSgd;
  double learning_rate = 0.01;
  double momentum = 0.9;             // momentum
  bool nesterov = false;             // momentum
  double beta1 = 0.9;                // adam
  double beta2 = 0.999;              // adam
  double epsilon = 1e-8;             // adagrad, adam
  double initial_accumulator = 0.1;  // adagrad, ftrl
  double l1 = 0;                     // ftrl: L1 regularisation strength (>= 0)
  double l2 = 0;                     // ftrl: L2 regularisation strength (>= 0)
  // Worker side, any kind: > 0 clips each step's gradients to this global
  // norm (graph/gradient_clipping.h) before they are applied or pushed; 0
  // does not clip. Not sent to the ps.
  double clip_norm = 0;

  // InvalidArgument naming the field unless every value is in range.
  Status Validate() const;
  bool operator==(const OptimizerConfig&) const = default;
};

enum class TrainingMode { kSync, kAsync };
const char* TrainingModeName(TrainingMode mode);  // "sync", "async"

// Async only: a push more than max_staleness steps behind is refused (kRefuse),
// or a push too far ahead waits for the slow workers (kWait).
enum class StalenessPolicy { kRefuse, kWait };
const char* StalenessPolicyName(StalenessPolicy policy);  // "refuse", "wait"

}  // namespace flowps

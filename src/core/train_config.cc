#include "core/train_config.h"

#include <cmath>

namespace flowps {

const char* OptimizerKindName(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kSgd: return "sgd";
    case OptimizerKind::kMomentum: return "momentum";
    case OptimizerKind::kAdagrad: return "adagrad";
    case OptimizerKind::kAdam: return "adam";
    case OptimizerKind::kFtrl: return "ftrl";
  }
  return "unknown";
}

StatusOr<OptimizerKind> ParseOptimizerKind(const std::string& name) {
  for (OptimizerKind k : {OptimizerKind::kSgd, OptimizerKind::kMomentum, OptimizerKind::kAdagrad,
                          OptimizerKind::kAdam, OptimizerKind::kFtrl})
    if (name == OptimizerKindName(k)) return k;
  return InvalidArgument("unknown optimizer '" + name +
                         "' (expected sgd, momentum, adagrad, adam or ftrl)");
}

Status OptimizerConfig::Validate() const {
  auto finite_positive = [](double v) { return std::isfinite(v) && v > 0; };
  if (!finite_positive(learning_rate))
    return InvalidArgument("optimizer.learning_rate must be > 0, got " + std::to_string(learning_rate));
  if (kind == OptimizerKind::kMomentum && !(momentum >= 0 && momentum < 1))
    return InvalidArgument("optimizer.momentum must be in [0, 1), got " + std::to_string(momentum));
  if (kind == OptimizerKind::kAdam) {
    if (!(beta1 >= 0 && beta1 < 1))
      return InvalidArgument("optimizer.beta1 must be in [0, 1), got " + std::to_string(beta1));
    if (!(beta2 >= 0 && beta2 < 1))
      return InvalidArgument("optimizer.beta2 must be in [0, 1), got " + std::to_string(beta2));
  }
  if ((kind == OptimizerKind::kAdam || kind == OptimizerKind::kAdagrad) && !(epsilon >= 0))
    return InvalidArgument("optimizer.epsilon must be >= 0, got " + std::to_string(epsilon));
  if (kind == OptimizerKind::kFtrl && !(std::isfinite(l1) && l1 >= 0))
    return InvalidArgument("optimizer.l1 must be >= 0, got " + std::to_string(l1));
  if (kind == OptimizerKind::kFtrl && !(std::isfinite(l2) && l2 >= 0))
    return InvalidArgument("optimizer.l2 must be >= 0, got " + std::to_string(l2));
  if ((kind == OptimizerKind::kAdagrad || kind == OptimizerKind::kFtrl) && !finite_positive(initial_accumulator))
    return InvalidArgument("optimizer.initial_accumulator must be > 0, got " +
                           std::to_string(initial_accumulator));
  return Status::OK();
}

const char* TrainingModeName(TrainingMode mode) { return mode == TrainingMode::kSync ? "sync" : "async"; }

const char* StalenessPolicyName(StalenessPolicy policy) {
  return policy == StalenessPolicy::kWait ? "wait" : "refuse";
}

}  // namespace flowps

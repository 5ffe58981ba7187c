// Helpers shared by the ps tests.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>

#include "ps/update_rule.h"
#include "ps/variable_store.h"

namespace flowps::ps::testing {

inline std::shared_ptr<spdlog::logger> NullLogger() {
  return std::make_shared<spdlog::logger>("ps", std::make_shared<spdlog::sinks::null_sink_mt>());
}

inline OptimizerConfig Sgd(double lr) {
  OptimizerConfig c;
  c.kind = OptimizerKind::kSgd;
  c.learning_rate = lr;
  return c;
}

inline VariableSpec ZerosSpec(const std::string& name, Shape shape) {
  VariableSpec s;
  s.name = name;
  s.full_shape = std::move(shape);
  return s;
}

inline void CreateOrDie(VariableStore& store, const VariableSpec& spec) {
  bool created = false;
  Status st = store.Create(spec, &created);
  if (!st.ok() || !created) throw std::runtime_error("create " + spec.name + ": " + st.ToString());
}

inline Gradient Dense(const std::string& name, Shape shape, std::vector<float> values) {
  return Gradient{name, Tensor::FromVector<float>(std::move(shape), values), Tensor()};
}

inline std::vector<float> Values(VariableStore& store, const std::string& name) {
  return store.Pull(name).value().ToVector<float>();
}

// Pushes and returns the answer; an error if the rule did not answer at once.
// Offers push (worker, step, seq) and returns its answer, which must come at once.
inline StatusOr<PushResult> PushNow(UpdateRule& rule, int32_t worker, int64_t step, std::vector<Gradient> grads,
                                    uint32_t seq = 0) {
  std::optional<StatusOr<PushResult>> out;
  rule.Push(PushRequest{worker, step, std::move(grads), seq}, [&](StatusOr<PushResult> r) { out = std::move(r); });
  if (!out) return Internal("the push was not answered at once");
  return *out;
}

inline PushOutcome OutcomeOf(const StatusOr<PushResult>& r) {
  REQUIRE(r.ok());
  return r->outcome;
}

}  // namespace flowps::ps::testing

// A tiny lstm_lm and random batches for it, shared by the lstm_lm tests.
#pragma once

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/job_spec.h"
#include "core/tensor.h"

namespace flowps::testing {

// vocab 7, embedding 3, 2 layers of 4, unroll 5, the softmax in `parts` parts.
inline ModelSpec TinyLstmLm(int64_t parts = 1) {
  ModelSpec spec;
  spec.kind = ModelKind::kLstmLm;
  spec.vocab = 7;
  spec.embedding = 3;
  spec.layers = 2;
  spec.hidden_size = 4;
  spec.unroll = 5;
  spec.softmax_parts = parts;
  spec.seed = 3;
  return spec;
}

// A batch of n random sequences of t tokens (and random targets) below `vocab`.
inline std::vector<std::pair<std::string, Tensor>> RandomTextBatch(int64_t n, int64_t t, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab - 1));
  Tensor tokens(DType::kInt32, Shape{n, t}), targets(DType::kInt32, Shape{n, t});
  for (int64_t i = 0; i < n * t; ++i) {
    tokens.data<int32_t>()[i] = id(rng);
    targets.data<int32_t>()[i] = id(rng);
  }
  return {{"tokens", tokens}, {"targets", targets}};
}

}  // namespace flowps::testing

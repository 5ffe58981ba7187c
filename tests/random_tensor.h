// Random float32 tensors for tests: uniform in [lo, hi], the same values for
// the same seed on every run.
#pragma once

#include <cstdint>
#include <random>
#include <utility>

#include "core/tensor.h"

namespace flowps::testing {

inline Tensor RandomTensor(Shape shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t(DType::kFloat32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

}  // namespace flowps::testing

// Initializers: the initial value of a variable, or of rows [row_begin, row_end)
// of it (a row-partition on one ps shard).
//
// Random initializers are counter-based: element i of the full variable is a
// pure function of (seed, i). A variable split by rows across shards therefore
// holds exactly the values it would hold unsplit, whatever the split.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/tensor.h"

namespace flowps::kernels {

enum class InitializerKind { kZeros, kConstant, kUniform, kNormal, kGlorotUniform };

const char* InitializerKindName(InitializerKind kind);  // "zeros", "constant", "uniform", "normal", "glorot_uniform"
StatusOr<InitializerKind> ParseInitializerKind(const std::string& name);

struct InitializerSpec {
  InitializerKind kind = InitializerKind::kZeros;
  double value = 0;     // constant
  double min = -0.05;   // uniform
  double max = 0.05;    // uniform
  double mean = 0;      // normal
  double stddev = 0.05; // normal
  uint64_t seed = 0;    // uniform, normal, glorot_uniform

  Status Validate() const;
};

// Rows [row_begin, row_end) of a float32 variable of `full_shape` (a scalar
// has one row). glorot_uniform draws from U(-l, l), l = sqrt(6 / (fan_in +
// fan_out)), fan_in = full_shape[0], fan_out = the product of the other dims.
// REQUIRES: spec.Validate().ok(), 0 <= row_begin <= row_end <= rows of full_shape.
Tensor Initialize(const InitializerSpec& spec, const Shape& full_shape, int64_t row_begin,
                  int64_t row_end);

}  // namespace flowps::kernels

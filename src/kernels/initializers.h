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

enum class InitializerKind {
  kZeros,
  kConstant,
  kUniform,
  kNormal,
  kTruncatedNormal,
  kGlorotUniform,
  kGlorotNormal,
  kHeUniform,
  kHeNormal,
};

// "zeros", "constant", "uniform", "normal", "truncated_normal", "glorot_uniform",
// "glorot_normal", "he_uniform", "he_normal".
const char* InitializerKindName(InitializerKind kind);
StatusOr<InitializerKind> ParseInitializerKind(const std::string& name);
// True for the kinds that draw random numbers (and so use the seed).
bool IsRandomInitializer(InitializerKind kind);

struct InitializerSpec {
  InitializerKind kind = InitializerKind::kZeros;
  double value = 0;     // constant
  double min = -0.05;   // uniform
  double max = 0.05;    // uniform
  double mean = 0;      // normal, truncated_normal
  double stddev = 0.05; // normal, truncated_normal
  uint64_t seed = 0;    // every random kind

  Status Validate() const;
};

// Rows [row_begin, row_end) of a float32 variable of `full_shape` (a scalar
// has one row). The fans are Keras's: for a matrix [in, out] fan_in = in and
// fan_out = out; for a convolution filter [kh, kw, in, out] fan_in = kh*kw*in,
// fan_out = kh*kw*out; a vector [n] has fan_in = fan_out = n; a scalar 1.
//   truncated_normal  N(mean, stddev^2) redrawn until within 2 stddev of mean
//   glorot_uniform    U(-l, l), l = sqrt(6 / (fan_in + fan_out))
//   glorot_normal     N(0, 2 / (fan_in + fan_out))
//   he_uniform        U(-l, l), l = sqrt(6 / fan_in)
//   he_normal         N(0, 2 / fan_in) (He et al. 2015; not truncated), equal
//                     element for element to normal with that stddev and seed
// REQUIRES: spec.Validate().ok(), 0 <= row_begin <= row_end <= rows of full_shape.
Tensor Initialize(const InitializerSpec& spec, const Shape& full_shape, int64_t row_begin,
                  int64_t row_end);

}  // namespace flowps::kernels

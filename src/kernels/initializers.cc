#include "kernels/initializers.h"

#include <cmath>
#include <numbers>

#include "core/split_mix.h"

namespace flowps::kernels {
namespace {

// A uniform double in (0, 1) from (seed, element, stream).
double Uniform01(uint64_t seed, uint64_t element, uint64_t stream) {
  uint64_t bits = SplitMix64(SplitMix64(seed) ^ SplitMix64(element * 2 + stream));
  return (static_cast<double>(bits >> 11) + 0.5) * 0x1.0p-53;
}

}  // namespace

const char* InitializerKindName(InitializerKind kind) {
  switch (kind) {
    case InitializerKind::kZeros: return "zeros";
    case InitializerKind::kConstant: return "constant";
    case InitializerKind::kUniform: return "uniform";
    case InitializerKind::kNormal: return "normal";
    case InitializerKind::kGlorotUniform: return "glorot_uniform";
  }
  return "unknown";
}

StatusOr<InitializerKind> ParseInitializerKind(const std::string& name) {
  for (InitializerKind k : {InitializerKind::kZeros, InitializerKind::kConstant, InitializerKind::kUniform,
                            InitializerKind::kNormal, InitializerKind::kGlorotUniform})
    if (name == InitializerKindName(k)) return k;
  return InvalidArgument("unknown initializer '" + name +
                         "' (expected zeros, constant, uniform, normal or glorot_uniform)");
}

Status InitializerSpec::Validate() const {
  if (kind == InitializerKind::kUniform && !(std::isfinite(min) && std::isfinite(max) && min <= max))
    return InvalidArgument("uniform initializer needs finite min <= max");
  if (kind == InitializerKind::kNormal && !(std::isfinite(mean) && std::isfinite(stddev) && stddev >= 0))
    return InvalidArgument("normal initializer needs a finite mean and stddev >= 0");
  if (kind == InitializerKind::kConstant && !std::isfinite(value))
    return InvalidArgument("constant initializer needs a finite value");
  return Status::OK();
}

Tensor Initialize(const InitializerSpec& spec, const Shape& full_shape, int64_t row_begin,
                  int64_t row_end) {
  std::vector<int64_t> dims = full_shape.dims();
  const int64_t full_rows = dims.empty() ? 1 : dims[0];
  const int64_t row_len = full_rows == 0 ? 0 : full_shape.num_elements() / full_rows;
  if (!dims.empty()) dims[0] = row_end - row_begin;
  Tensor out = Tensor::Zeros(DType::kFloat32, Shape(dims));
  float* p = out.data<float>();
  const int64_t n = out.num_elements();
  const uint64_t first = static_cast<uint64_t>(row_begin * row_len);
  switch (spec.kind) {
    case InitializerKind::kZeros:
      break;
    case InitializerKind::kConstant:
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(spec.value);
      break;
    case InitializerKind::kUniform:
      for (int64_t i = 0; i < n; ++i)
        p[i] = static_cast<float>(spec.min + (spec.max - spec.min) * Uniform01(spec.seed, first + i, 0));
      break;
    case InitializerKind::kNormal:
      // Box-Muller on two independent uniforms of the same element.
      for (int64_t i = 0; i < n; ++i) {
        double u1 = Uniform01(spec.seed, first + i, 0), u2 = Uniform01(spec.seed, first + i, 1);
        double z = std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
        p[i] = static_cast<float>(spec.mean + spec.stddev * z);
      }
      break;
    case InitializerKind::kGlorotUniform: {
      const double fan_in = static_cast<double>(full_shape.rank() == 0 ? 1 : full_rows);
      const double fan_out = static_cast<double>(std::max<int64_t>(row_len, 1));
      const double limit = std::sqrt(6.0 / (fan_in + fan_out));
      for (int64_t i = 0; i < n; ++i)
        p[i] = static_cast<float>(-limit + 2 * limit * Uniform01(spec.seed, first + i, 0));
      break;
    }
  }
  return out;
}

}  // namespace flowps::kernels

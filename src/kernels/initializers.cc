#include "kernels/initializers.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <numbers>

#include "core/split_mix.h"

namespace flowps::kernels {
namespace {

// A uniform double in (0, 1) from (seed, element, stream).
double Uniform01(uint64_t seed, uint64_t element, uint64_t stream) {
  uint64_t bits = SplitMix64(SplitMix64(seed) ^ SplitMix64(element * 2 + stream));
  return (static_cast<double>(bits >> 11) + 0.5) * 0x1.0p-53;
}

// A standard normal draw for element `element` (Box-Muller on two independent
// uniforms of the same element); `attempt` > 0 gives fresh, independent draws.
double StandardNormal(uint64_t seed, uint64_t element, uint64_t attempt) {
  uint64_t s = attempt == 0 ? seed : SplitMix64(seed ^ SplitMix64(attempt * 0xd1b54a32d192ed03ULL));
  double u1 = Uniform01(s, element, 0), u2 = Uniform01(s, element, 1);
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
}

// Keras's fans of a variable of `shape` (see initializers.h).
std::pair<double, double> Fans(const Shape& shape) {
  const int r = shape.rank();
  if (r == 0) return {1, 1};
  if (r == 1) return {double(shape.dim(0)), double(shape.dim(0))};
  double receptive = 1;
  for (int i = 0; i + 2 < r; ++i) receptive *= double(shape.dim(i));
  return {receptive * double(shape.dim(r - 2)), receptive * double(shape.dim(r - 1))};
}

void FillUniform(float* p, int64_t n, uint64_t first, uint64_t seed, double lo, double hi) {
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(lo + (hi - lo) * Uniform01(seed, first + i, 0));
}

// N(mean, stddev^2); truncated: redrawn (up to 64 times, then clamped) until
// within 2 stddev of the mean.
void FillNormal(float* p, int64_t n, uint64_t first, uint64_t seed, double mean, double stddev, bool truncated) {
  for (int64_t i = 0; i < n; ++i) {
    double z = StandardNormal(seed, first + i, 0);
    for (uint64_t attempt = 1; truncated && std::abs(z) > 2 && attempt < 64; ++attempt)
      z = StandardNormal(seed, first + i, attempt);
    if (truncated) z = std::clamp(z, -2.0, 2.0);
    p[i] = static_cast<float>(mean + stddev * z);
  }
}

}  // namespace

constexpr InitializerKind kAllKinds[] = {
    InitializerKind::kZeros,        InitializerKind::kConstant,     InitializerKind::kUniform,
    InitializerKind::kNormal,       InitializerKind::kTruncatedNormal, InitializerKind::kGlorotUniform,
    InitializerKind::kGlorotNormal, InitializerKind::kHeUniform,    InitializerKind::kHeNormal};

const char* InitializerKindName(InitializerKind kind) {
  switch (kind) {
    case InitializerKind::kZeros: return "zeros";
    case InitializerKind::kConstant: return "constant";
    case InitializerKind::kUniform: return "uniform";
    case InitializerKind::kNormal: return "normal";
    case InitializerKind::kTruncatedNormal: return "truncated_normal";
    case InitializerKind::kGlorotUniform: return "glorot_uniform";
    case InitializerKind::kGlorotNormal: return "glorot_normal";
    case InitializerKind::kHeUniform: return "he_uniform";
    case InitializerKind::kHeNormal: return "he_normal";
  }
  return "unknown";
}

StatusOr<InitializerKind> ParseInitializerKind(const std::string& name) {
  std::string all;
  for (InitializerKind k : kAllKinds) {
    if (name == InitializerKindName(k)) return k;
    all += std::string(all.empty() ? "" : ", ") + InitializerKindName(k);
  }
  return InvalidArgument("unknown initializer '" + name + "' (expected one of " + all + ")");
}

bool IsRandomInitializer(InitializerKind kind) {
  return kind != InitializerKind::kZeros && kind != InitializerKind::kConstant;
}

Status InitializerSpec::Validate() const {
  if (kind == InitializerKind::kUniform && !(std::isfinite(min) && std::isfinite(max) && min <= max))
    return InvalidArgument("uniform initializer needs finite min <= max");
  if ((kind == InitializerKind::kNormal || kind == InitializerKind::kTruncatedNormal) &&
      !(std::isfinite(mean) && std::isfinite(stddev) && stddev >= 0))
    return InvalidArgument(std::string(InitializerKindName(kind)) + " initializer needs a finite mean and stddev >= 0");
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
  const auto [fan_in, fan_out] = Fans(full_shape);
  switch (spec.kind) {
    case InitializerKind::kZeros:
      break;
    case InitializerKind::kConstant:
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(spec.value);
      break;
    case InitializerKind::kUniform:
      FillUniform(p, n, first, spec.seed, spec.min, spec.max);
      break;
    case InitializerKind::kNormal:
    case InitializerKind::kTruncatedNormal:
      FillNormal(p, n, first, spec.seed, spec.mean, spec.stddev, spec.kind == InitializerKind::kTruncatedNormal);
      break;
    case InitializerKind::kGlorotUniform: {
      const double limit = std::sqrt(6.0 / (fan_in + fan_out));
      FillUniform(p, n, first, spec.seed, -limit, limit);
      break;
    }
    case InitializerKind::kGlorotNormal:
      FillNormal(p, n, first, spec.seed, 0, std::sqrt(2.0 / (fan_in + fan_out)), false);
      break;
    case InitializerKind::kHeUniform: {
      const double limit = std::sqrt(6.0 / fan_in);
      FillUniform(p, n, first, spec.seed, -limit, limit);
      break;
    }
    case InitializerKind::kHeNormal:
      FillNormal(p, n, first, spec.seed, 0, std::sqrt(2.0 / fan_in), false);
      break;
  }
  return out;
}

}  // namespace flowps::kernels

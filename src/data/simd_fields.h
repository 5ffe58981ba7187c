// Several fields of a delimited line parsed at once (AVX2): the row parsers
// of the csv and libsvm readers use these on the fields whose bounds
// FieldSplitter found, and fall back to the one-field path (ParseFieldExact)
// for any field these do not decide. Every float they give is the one
// ParseFieldExact gives (and so strtof): the same m * 10^-k in double and the
// same midpoint check as DecimalToFloat, four lanes at a time.
//
// Without AVX2 and BMI2 at compile time (kFieldBatches false) the functions
// decide nothing (0 / false) and the callers take the one-field path: the
// same results, more slowly.
#pragma once

#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "data/parse_number.h"

#if defined(__AVX2__) && defined(__BMI2__) && defined(FLOWPS_FIELD_SIMD)
#include <immintrin.h>
#define FLOWPS_FIELD_BATCHES 1
#endif

namespace flowps::data {

#ifdef FLOWPS_FIELD_BATCHES
inline constexpr bool kFieldBatches = true;
#else
inline constexpr bool kFieldBatches = false;
#endif

// The run of lone digits at p, each followed by a ',' ("0,0,1,0,"): how many
// (at most 16 and at most max_fields, which must be at most (line end - p) / 2
// so that the run stays in its line). Writes their values to out[0..n) and
// may write up to out[16) (the caller leaves room). The 32 bytes at p must be
// readable. Images, one-hot and flag columns are full of such runs.
inline size_t LoneDigitRun(const char* p, size_t max_fields, float* out) {
#ifdef FLOWPS_FIELD_BATCHES
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  // Even bytes a digit, odd bytes ','.
  const __m256i x = _mm256_sub_epi8(v, _mm256_set1_epi16(static_cast<short>(',' << 8 | '0')));
  const __m256i ok = _mm256_cmpeq_epi8(_mm256_min_epu8(x, _mm256_set1_epi16(9)), x);
  const uint32_t bad = ~static_cast<uint32_t>(_mm256_movemask_epi8(ok));
  size_t n = static_cast<size_t>(_tzcnt_u32(bad)) / 2;  // 16 when none is bad
  n = n < max_fields ? n : max_fields;
  if (n == 0) return 0;
  // The digits are the low bytes of 16-bit lanes whose high byte (the ',') is 0.
  const __m256i digits = _mm256_and_si256(x, _mm256_set1_epi16(0xFF));
  _mm256_storeu_ps(out, _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(digits))));
  _mm256_storeu_ps(out + 8, _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(digits, 1))));
  return n;
#else
  (void)p, (void)max_fields, (void)out;
  return 0;
#endif
}

// Four fields [begin[k], end[k]) in PlainDecimal16's forms, converted
// together: the digits of two fields per AVX2 register (one 16-byte lane
// each), their characters checked in the registers, their integers, four
// doubles m * 10^-k, the midpoint checks and the conversion to float in four
// lanes. All or nothing: `exact` when all four are plain decimals whose
// float this decides (DecimalToFloat's cases); otherwise the caller parses
// the four one by one.
struct Decimals4 {
  float values[4];
  uint64_t m[4];          // the digits as integers (libsvm's ids)
  bool exact = false;     // values[0..3] are the fields' exact floats
  bool integers02 = false;  // fields 0 and 2 have neither a '.' nor a '-' (when exact: m[0], m[2] are their values)
};

#ifdef FLOWPS_FIELD_BATCHES
namespace field_detail {

// 16 bytes of 0xFF then 16 of 0: the 16 bytes at kInside + 16 - n are 0xFF
// for the first n.
alignas(32) inline constexpr uint8_t kInside[32] = {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
                                                    255, 255, 255, 255, 255};

// kAlign (parse_number.h) with its last row (no '.') one byte earlier, so
// that the shuffle of a field of n characters with its '.' at byte k (16:
// none) is the 16 bytes at rows[k] + n - 1.
constexpr AlignTable MakeAlignByLength() {
  AlignTable t = kAlign;
  for (int i = 0; i < 31; ++i) t.rows[16][i] = kAlign.rows[16][i + 1];
  t.rows[16][31] = -128;
  return t;
}
inline constexpr AlignTable kAlignByLength = MakeAlignByLength();

// Row k: the sign bit of a double in lane i when bit i of k is set.
struct SignTable {
  alignas(32) double masks[16][4];
};
constexpr SignTable MakeSignTable() {
  SignTable t{};
  for (int k = 0; k < 16; ++k)
    for (int i = 0; i < 4; ++i) t.masks[k][i] = (k >> i & 1) ? -0.0 : 0.0;
  return t;
}
inline constexpr SignTable kSigns = MakeSignTable();

// The 16 bytes at a and at b, as the low and high lanes.
inline __m256i Load2(const void* a, const void* b) {
  return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(static_cast<const __m128i*>(a))),
                                 _mm_loadu_si128(static_cast<const __m128i*>(b)), 1);
}

// Two fields, one per 16-byte lane of v, of lo and hi characters (at most
// 16). The integers are 64-bit lanes 0 and 2 of the result.
struct Two {
  __m256i integers;
  uint32_t dots;       // movemask of the fields' '.' (bits 0..15: lo, 16..31: hi)
  uint32_t minus;      // movemask of a leading '-'
  bool well_formed;    // only digits, '.' and a leading '-', at least one digit each
  double scale_lo, scale_hi;
};
// Byte constants, loaded from memory (a broadcast built in registers costs
// two instructions each time the register is needed again).
struct Bytes32 {
  alignas(32) uint8_t b[32];
};
constexpr Bytes32 Splat(uint8_t c) {
  Bytes32 v{};
  for (uint8_t& x : v.b) x = c;
  return v;
}
inline constexpr Bytes32 kZeroChar = Splat('0'), kNine = Splat(9), kDotChar = Splat('.'), kMinusChar = Splat('-');
inline constexpr Bytes32 kFirstByte = {{255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255}};
inline __m256i Load32(const Bytes32& c) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(c.b)); }

inline Two Integers2(const __m256i v, uint32_t lo, uint32_t hi) {
  // 10^-(i - 16) for i >= 16, 1 below: the scale of a field of n
  // characters with its '.' at byte k (16: none) is entry n + 15 - k.
  static constexpr double kScale[32] = {1,     1,     1,     1,     1,     1,     1,     1,     1,     1,     1,
                                        1,     1,     1,     1,     1,     1e0,   1e-1,  1e-2,  1e-3,  1e-4,  1e-5,
                                        1e-6,  1e-7,  1e-8,  1e-9,  1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15};
  const __m256i inside = Load2(kInside + 16 - lo, kInside + 16 - hi);
  const __m256i d = _mm256_sub_epi8(v, Load32(kZeroChar));
  const __m256i is_digit = _mm256_cmpeq_epi8(_mm256_min_epu8(d, Load32(kNine)), d);
  const __m256i is_dot = _mm256_cmpeq_epi8(v, Load32(kDotChar));
  const __m256i lead_minus = _mm256_and_si256(_mm256_cmpeq_epi8(v, Load32(kMinusChar)), Load32(kFirstByte));
  const __m256i allowed = _mm256_or_si256(_mm256_or_si256(is_digit, is_dot), lead_minus);
  const uint32_t digits = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_and_si256(is_digit, inside)));
  Two t;
  t.dots = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_and_si256(is_dot, inside)));
  t.minus = static_cast<uint32_t>(_mm256_movemask_epi8(lead_minus));
  const uint32_t dots_lo = t.dots & 0xFFFF, dots_hi = t.dots >> 16;
  const uint32_t dot_lo = _tzcnt_u32(dots_lo | 0x10000), dot_hi = _tzcnt_u32(dots_hi | 0x10000);
  // Each field: only digits, '.' and a leading '-'; a digit; at most one '.'.
  t.well_formed = _mm256_testc_si256(allowed, inside) & (static_cast<uint16_t>(digits) != 0) & (digits > 0xFFFF) &
                  ((_blsr_u32(dots_lo) | _blsr_u32(dots_hi)) == 0);
  t.scale_lo = kScale[(lo + 15 - dot_lo) & 31];
  t.scale_hi = kScale[(hi + 15 - dot_hi) & 31];
  const __m256i shuffle = Load2(kAlignByLength.rows[dot_lo] + lo - 1, kAlignByLength.rows[dot_hi] + hi - 1);
  // 16 digits per lane, most significant first, summed as PlainDecimal16 does.
  const __m256i aligned = _mm256_shuffle_epi8(_mm256_and_si256(d, is_digit), shuffle);
  const __m256i pairs = _mm256_maddubs_epi16(aligned, _mm256_set1_epi16(0x010A));
  const __m256i quads = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x00010064));
  const __m256i packed = _mm256_packus_epi32(quads, quads);
  const __m256i eights = _mm256_madd_epi16(packed, _mm256_set1_epi32(0x00012710));
  // 32-bit lanes [high 8 digits, low 8 digits, ...]: 64-bit lane 0 of each half is the integer.
  t.integers =
      _mm256_add_epi64(_mm256_mul_epu32(eights, _mm256_set1_epi64x(100000000)), _mm256_srli_epi64(eights, 32));
  return t;
}

}  // namespace field_detail
#endif

// Fills *out for the four fields; begin[k] + 16 bytes must be readable.
inline void ParseDecimals4(const char* const begin[4], const char* const end[4], Decimals4* out) {
#ifdef FLOWPS_FIELD_BATCHES
  using namespace field_detail;
  uint32_t length[4];
  for (int k = 0; k < 4; ++k) length[k] = std::min(static_cast<uint32_t>(end[k] - begin[k]), 16u);
  // Fields 0 and 2 in one register, 1 and 3 in the other, so that
  // interleaving their 64-bit lanes orders the integers 0, 1, 2, 3.
  const Two a = Integers2(Load2(begin[0], begin[2]), length[0], length[2]);
  const Two b = Integers2(Load2(begin[1], begin[3]), length[1], length[3]);
  const __m256i m = _mm256_unpacklo_epi64(a.integers, b.integers);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out->m), m);
  // m < 10^15 < 2^52: or'ed into the significand of 2^52 it is exact.
  const __m256d two52 = _mm256_set1_pd(4503599627370496.0);
  const __m256d md = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(m, _mm256_castpd_si256(two52))), two52);
  __m256d value = _mm256_mul_pd(md, _mm256_setr_pd(a.scale_lo, b.scale_lo, a.scale_hi, b.scale_hi));
  // DecimalToFloat's check: a float midpoint (the 29 dropped bits 1000...0)
  // within 3 units in the last place of the double is left to the exact path.
  const __m256i low = _mm256_sub_epi64(_mm256_and_si256(_mm256_castpd_si256(value), _mm256_set1_epi64x((1 << 29) - 1)),
                                       _mm256_set1_epi64x(1 << 28));
  const __m256i near = _mm256_and_si256(_mm256_cmpgt_epi64(_mm256_set1_epi64x(4), low),
                                        _mm256_cmpgt_epi64(low, _mm256_set1_epi64x(-4)));
  // The sign, set on the double: rounding to float is symmetric.
  const uint32_t minus = (a.minus & 1) | (b.minus & 1) << 1 | (a.minus >> 14 & 4) | (b.minus >> 13 & 8);
  value = _mm256_xor_pd(value, _mm256_load_pd(kSigns.masks[minus]));
  _mm_storeu_ps(out->values, _mm256_cvtpd_ps(value));
  out->exact = a.well_formed & b.well_formed & ((length[0] | length[1] | length[2] | length[3]) < 16) &
               _mm256_testz_si256(near, near);
  out->integers02 = (a.dots | a.minus) == 0;
#else
  (void)begin, (void)end;
  out->exact = out->integers02 = false;
#endif
}

// The float fields of a ','-separated line from *begin (a field's start),
// while four or more of the *left wanted remain: runs of lone digits 16 at a
// time (when 16 remain), the others four at a time, and those of a four
// these do not decide one by one (ParseFieldExact). Advances *begin, *left
// and *out (which has room for *left floats); `split` has given the ends up
// to *begin. False when the line ends early or a field is not a number.
// Where the build lacks AVX2, parses each field alone. The line's 64 bytes
// past line_end must be readable.
inline bool ParseFloatBatches(FieldSplitter<','>& split, const char* line_end, size_t* left, const char** begin,
                              float** out) {
  while (*left >= 4) {
    if (*left >= 16) {
      const size_t n = LoneDigitRun(*begin, std::min<size_t>(16, static_cast<size_t>(line_end - *begin) / 2), *out);
      if (n > 0) {
        *begin += 2 * n;
        *left -= n;
        *out += n;
        split.SkipTo(*begin);
        if (*left < 4) break;
      }
    }
    const char* e[4];
    if (!split.Next4(e)) return false;
    const char* b[4] = {*begin, e[0] + 1, e[1] + 1, e[2] + 1};
    Decimals4 d;
    ParseDecimals4(b, e, &d);
    float* values = *out;
    std::memcpy(values, d.values, sizeof d.values);
    if (!d.exact)
      for (int k = 0; k < 4; ++k)
        if (!ParseFieldExact(b[k], e[k], values + k)) return false;
    *begin = e[3] + 1;
    *left -= 4;
    *out += 4;
  }
  return true;
}

}  // namespace flowps::data

// Number parsing for the text readers: no locale, no allocation, accepting
// surrounding spaces and a leading '+'. Floats are correctly rounded (the
// same float as strtof gives) and integers overflow-checked.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#if defined(__SSSE3__) && defined(__SSE4_1__)
#include <immintrin.h>
#define FLOWPS_FIELD_SIMD 1
#endif

namespace flowps::data {

inline std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

inline const char* SkipSpaces(const char* p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\t')) ++p;
  return p;
}

inline bool IsDigit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

// Reads the run of decimal digits at p (up to end), accumulating them into
// *m (*m = *m * 10^count + run); returns the position after the run and adds
// its length to *count. Eight bytes at a time while eight remain (SWAR: no
// branch per digit); *m wraps when a run is longer than 19 digits, which the
// caller refuses by the count.
inline const char* ScanDigits(const char* p, const char* end, uint64_t* m, int* count) {
  static constexpr uint64_t kPow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
  while (end - p >= 8) {
    uint64_t w;
    std::memcpy(&w, p, sizeof w);  // the first character is the lowest byte
    const uint64_t t = w ^ 0x3030303030303030;  // a digit's byte becomes 0..9
    // A byte's high bit is set when it is not a digit: t >= 128, or t >= 10.
    const uint64_t not_digit = (t | ((t & 0x7F7F7F7F7F7F7F7F) + 0x7676767676767676)) & 0x8080808080808080;
    const int n = not_digit == 0 ? 8 : __builtin_ctzll(not_digit) / 8;
    if (n == 0) return p;
    // The n digits, left-aligned (the missing ones leading zeros), summed
    // pairwise: 8 digits -> 4 two-digit -> 2 four-digit -> 1 eight-digit number.
    uint64_t v = t << (8 * (8 - n));
    v = (v * 10) + (v >> 8);
    v = (((v & 0x000000FF000000FF) * 0x000F424000000064) + (((v >> 16) & 0x000000FF000000FF) * 0x0000271000000001)) >> 32;
    *m = *m * kPow10[n] + static_cast<uint32_t>(v);
    *count += n;
    p += n;
    if (n < 8) return p;
  }
  for (; p < end && IsDigit(*p); ++p, ++*count) *m = *m * 10 + static_cast<uint64_t>(*p - '0');
  return p;
}

// The fast path for the decimals data files are full of ("0", "0.25",
// "-3.5e-2", "0.003921569"): at most 19 digits whose value m is at most 2^53,
// and a power of ten p in [-22, 22]. Then m and 10^|p| are exact doubles and
// m * 10^p (or m / 10^-p) is one correctly rounded double operation (Clinger's
// fast path). Narrowing that double to float rounds twice, which differs from
// rounding the exact value once only when the double lies exactly halfway
// between two floats; those rare cases, and all others, go to
// std::from_chars, which is exact. Returns the position after the number, or
// nullptr when this path does not decide (the caller then uses from_chars).
inline const char* ParseFloatFast(const char* p, const char* end, float* out) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                      1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  const bool negative = p < end && *p == '-';
  if (negative) ++p;
  uint64_t m = 0;
  int digits = 0;
  p = ScanDigits(p, end, &m, &digits);
  int fraction = 0;
  if (p < end && *p == '.') {
    p = ScanDigits(p + 1, end, &m, &fraction);
    digits += fraction;
  }
  if (digits == 0 || digits > 19 || m > (uint64_t{1} << 53)) return nullptr;
  int power = -fraction;
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    const bool negative_exponent = p < end && *p == '-';
    if (p < end && (*p == '-' || *p == '+')) ++p;
    int e = 0, n = 0;
    for (; p < end && IsDigit(*p) && n < 4; ++p, ++n) e = e * 10 + (*p - '0');
    if (n == 0 || n == 4) return nullptr;
    power += negative_exponent ? -e : e;
  }
  if (power < -22 || power > 22) return nullptr;
  const double d = power < 0 ? static_cast<double>(m) / kPow10[-power] : static_cast<double>(m) * kPow10[power];
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  // A float keeps 24 of the double's 53 significand bits: the 29 dropped bits
  // are 1000...0 exactly when d is halfway between two floats.
  if ((bits & ((uint64_t{1} << 29) - 1)) == (uint64_t{1} << 28)) return nullptr;
  const float f = static_cast<float>(d);
  *out = negative ? -f : f;
  return p;
}

// Parses one number of type T at p (after spaces and an optional '+'); the
// position after it and its trailing spaces, or nullptr when there is none.
template <typename T>
const char* ParseNumberAt(const char* p, const char* end, T* out) {
  if constexpr (std::is_same_v<T, float>) {
    // A lone digit before a separator (0 and 1 fill many data files) needs
    // no parsing at all.
    if (end - p >= 2 && IsDigit(p[0]) && (p[1] == ',' || p[1] == ' ' || p[1] == '\t')) {
      *out = static_cast<float>(p[0] - '0');
      return p[1] == ',' ? p + 1 : SkipSpaces(p + 1, end);
    }
    // Most fields are a bare number: no spaces to skip before or after it.
    if (const char* next = p < end && *p != ' ' && *p != '\t' && *p != '+' ? ParseFloatFast(p, end, out) : nullptr)
      return next == end || (*next != ' ' && *next != '\t') ? next : SkipSpaces(next, end);
  }
  p = SkipSpaces(p, end);
  if (p < end && *p == '+') ++p;
  const char* next = nullptr;
  if constexpr (std::is_same_v<T, float>) next = ParseFloatFast(p, end, out);
  if (next == nullptr) {
    auto [stop, ec] = std::from_chars(p, end, *out);
    if (ec != std::errc() || stop == p) return nullptr;
    next = stop;
  }
  return SkipSpaces(next, end);
}

#ifdef FLOWPS_FIELD_SIMD
namespace field_detail {
// Row k (0..15: the '.' is at byte k; 16: no '.') holds 16 bytes of 0x80,
// then for each position j of the field with its '.' removed the byte it comes
// from. Loading 16 bytes at row + n (n the characters left) gives the
// shuffle that right-aligns those characters, zeros before them.
struct AlignTable {
  alignas(16) int8_t rows[17][32];
};
constexpr AlignTable MakeAlignTable() {
  AlignTable t{};
  for (int k = 0; k <= 16; ++k)
    for (int i = 0; i < 32; ++i) {
      const int j = i - 16;
      const int from = j < k ? j : j + 1;
      t.rows[k][i] = static_cast<int8_t>(j < 0 || from > 15 ? -128 : from);
    }
  return t;
}
inline constexpr AlignTable kAlign = MakeAlignTable();
}  // namespace field_detail
#endif

// The fast path for one field of a delimited file, in the forms data files
// are made of: an optional '-', then digits with at most one '.' among them
// ("0", "255", "-3", "0.003921569"), 15 characters at most, ended by `sep` or
// by `end`. Reads the 16 bytes at p, which must be readable (they may lie
// past end). One pass over the field, no branch per character: the digits
// are found, right-aligned and summed 16 at a time (SSE), and the value is
// ParseFloatFast's (Clinger's exact fast path; halfway cases are left out).
// Returns the field's end (the `sep` or end), or nullptr when this path does
// not decide; ParseNumberAt then gives what it always gives, and for every
// field this path decides it gives the same float.
template <char Sep>
inline const char* ParseFieldFast16(const char* p, const char* end, float* out) {
#ifdef FLOWPS_FIELD_SIMD
  static constexpr double kPow10Negative[] = {1e0,  1e-1, 1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,
                                              1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15};
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
  const __m128i is_digit = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
  const uint32_t digits = static_cast<uint32_t>(_mm_movemask_epi8(is_digit));
  const uint32_t seps = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(Sep))));
  const size_t left = static_cast<size_t>(end - p);
  const uint32_t stop = seps | (left < 16 ? uint32_t{1} << left : 0) | 0x10000;
  const int length = __builtin_ctz(stop);  // the field's characters, 16: too long
  const uint32_t field = (uint32_t{1} << length) - 1;
  const uint32_t minus = *p == '-' ? 1 : 0;
  const uint32_t other = field & ~digits & ~minus;  // neither a digit nor the sign
  const uint32_t dots = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('.'))));
  if (length == 16 || (other & ~dots) != 0 || (other & (other - 1)) != 0 || (digits & field) == 0) return nullptr;
  // other is now 0 or the one '.'.
  const int dot = other == 0 ? 16 : __builtin_ctz(other);
  const int kept = length - (other == 0 ? 0 : 1);  // characters without the '.' (the sign counts as a 0)
  const int fraction = other == 0 ? 0 : length - dot - 1;
  const __m128i shuffle =
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(field_detail::kAlign.rows[dot] + kept));
  const __m128i aligned = _mm_shuffle_epi8(_mm_and_si128(d, is_digit), shuffle);  // 16 digits, most significant first
  const __m128i pairs = _mm_maddubs_epi16(aligned, _mm_setr_epi8(10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1));
  const __m128i quads = _mm_madd_epi16(pairs, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
  const __m128i packed = _mm_packus_epi32(quads, quads);
  const __m128i eights = _mm_madd_epi16(packed, _mm_setr_epi16(10000, 1, 10000, 1, 10000, 1, 10000, 1));
  const uint64_t m = static_cast<uint64_t>(static_cast<uint32_t>(_mm_cvtsi128_si32(eights))) * 100000000 +
                     static_cast<uint32_t>(_mm_extract_epi32(eights, 1));
  // m < 10^15 is an exact double. The product by 10^-fraction (a rounded
  // double) is within 2 units in the last place of the exact m / 10^fraction,
  // so it rounds to the same float unless a float midpoint (the 29 bits a
  // float drops are 1000...0) lies within 2 units of it: those go the exact way.
  const double value = static_cast<double>(m) * kPow10Negative[fraction];
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if (((bits & ((uint64_t{1} << 29) - 1)) - ((uint64_t{1} << 28) - 3)) <= 6) return nullptr;
  const float f = static_cast<float>(value);
  *out = minus != 0 ? -f : f;
  return p + length;
#else
  (void)p, (void)end, (void)out;
  return nullptr;
#endif
}

// One float field of a delimited file ended by `sep` (',' for csv, ' ' for
// libsvm): ParseNumberAt's result (the position after the number and its
// trailing spaces, or nullptr), by the fast path when it decides.
// readable_end: bytes up to there may be read (the buffer `end` lies in).
template <char Sep>
inline const char* ParseFloatField(const char* p, const char* end, const char* readable_end, float* out) {
  if (readable_end - p >= 16) {
    // A lone digit (0 and 1 fill many data files; they come in runs, so the
    // branch is well predicted).
    if (p < end && IsDigit(p[0]) && (p + 1 == end || p[1] == Sep)) {
      *out = static_cast<float>(p[0] - '0');
      if constexpr (Sep == ' ' || Sep == '\t') return SkipSpaces(p + 1, end);
      return p + 1;
    }
    if (const char* next = ParseFieldFast16<Sep>(p, end, out)) {
      if constexpr (Sep == ' ' || Sep == '\t') return SkipSpaces(next, end);
      return next;
    }
  }
  return ParseNumberAt(p, end, out);
}

// True when all of `s` (spaces aside) is one number of type T.
template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  const char* end = s.data() + s.size();
  return ParseNumberAt(s.data(), end, out) == end;
}

}  // namespace flowps::data

// Number parsing for the text readers: no locale, no allocation, accepting
// surrounding spaces and a leading '+'. Floats are correctly rounded (the
// same float as strtof gives) and integers overflow-checked.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

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

// True when all of `s` (spaces aside) is one number of type T.
template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  const char* end = s.data() + s.size();
  return ParseNumberAt(s.data(), end, out) == end;
}

}  // namespace flowps::data

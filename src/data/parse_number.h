// Number parsing for the text readers: std::from_chars (no locale, no
// allocation), accepting surrounding spaces and a leading '+'.
#pragma once

#include <charconv>
#include <cstdint>
#include <type_traits>
#include <string_view>

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

// A fast path for the plain decimals data files are full of ("0", "0.25",
// "-3.5", "0.003921569"): at most 15 significant digits and no exponent,
// computed as digits / 10^k in double (correctly rounded) and then narrowed.
// nullptr when the text is not such a decimal (std::from_chars decides then).
inline const char* ParsePlainDecimal(const char* p, const char* end, float* out) {
  static constexpr double kPow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
                                      1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
  const bool negative = p < end && *p == '-';
  if (negative) ++p;
  uint64_t digits = 0;
  int count = 0, fraction = 0;
  const char* start = p;
  for (; p < end && *p >= '0' && *p <= '9'; ++p, ++count) digits = digits * 10 + static_cast<uint64_t>(*p - '0');
  if (p < end && *p == '.') {
    for (++p; p < end && *p >= '0' && *p <= '9'; ++p, ++count, ++fraction)
      digits = digits * 10 + static_cast<uint64_t>(*p - '0');
  }
  if (count == 0 || count > 15 || p == start || (p < end && (*p == 'e' || *p == 'E' || *p == '.'))) return nullptr;
  const double v = static_cast<double>(digits) / kPow10[fraction];
  *out = static_cast<float>(negative ? -v : v);
  return p;
}

// Parses one number of type T at p (after spaces and an optional '+'); the
// position after it and its trailing spaces, or nullptr when there is none.
template <typename T>
const char* ParseNumberAt(const char* p, const char* end, T* out) {
  p = SkipSpaces(p, end);
  if (p < end && *p == '+') ++p;
  if constexpr (std::is_same_v<T, float>) {
    if (const char* next = ParsePlainDecimal(p, end, out)) return SkipSpaces(next, end);
  }
  auto [next, ec] = std::from_chars(p, end, *out);
  if (ec != std::errc() || next == p) return nullptr;
  return SkipSpaces(next, end);
}

// True when all of `s` (spaces aside) is one number of type T.
template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  const char* end = s.data() + s.size();
  return ParseNumberAt(s.data(), end, out) == end;
}

}  // namespace flowps::data

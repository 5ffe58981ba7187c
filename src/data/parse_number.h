// Number parsing for the text readers: std::from_chars (no locale, no
// allocation), accepting surrounding spaces and a leading '+'.
#pragma once

#include <charconv>
#include <string_view>

namespace flowps::data {

inline std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True when all of `s` (spaces aside) is one number of type T.
template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  s = TrimSpaces(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace flowps::data

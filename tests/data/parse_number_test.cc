#include <catch2/catch.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "data/parse_number.h"

using namespace flowps::data;

namespace {

uint32_t Bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

// Parses `text` as the readers do and as strtof does; they must agree to the
// bit. A value out of float's range (ERANGE) may be refused instead.
void Agrees(const std::string& text) {
  float ours = 0;
  INFO(text);
  errno = 0;
  const float want = std::strtof(text.c_str(), nullptr);
  const bool parsed = ParseNumber(text, &ours);
  if (errno == ERANGE && !parsed) return;
  REQUIRE(parsed);
  if (std::isnan(want)) {
    CHECK(std::isnan(ours));
  } else {
    REQUIRE(Bits(ours) == Bits(want));
  }
}

}  // namespace

TEST_CASE("a float parses to the same bits as strtof, on a million printed floats and random decimals") {
  std::mt19937_64 rng(7);
  char buf[64];
  const char* formats[] = {"%.9g", "%.6g", "%.3f", "%.8e", "%.12g", "%.17g", "%.1f"};
  for (int i = 0; i < 300000; ++i) {
    uint32_t b = static_cast<uint32_t>(rng());
    float f;
    std::memcpy(&f, &b, sizeof f);
    if (!std::isfinite(f)) continue;
    std::snprintf(buf, sizeof buf, formats[i % 7], static_cast<double>(f));
    Agrees(buf);
  }
  // Decimals of 1 to 20 digits with a point anywhere and exponents around the fast path's edges.
  for (int i = 0; i < 700000; ++i) {
    std::string s = rng() % 2 ? "-" : "";
    const int digits = 1 + static_cast<int>(rng() % 20);
    const int point = static_cast<int>(rng() % (digits + 1));
    for (int d = 0; d < digits; ++d) {
      if (d == point && d > 0) s += '.';
      s += static_cast<char>('0' + rng() % 10);
    }
    if (rng() % 3 == 0) {
      s += 'e';
      s += std::to_string(static_cast<int>(rng() % 61) - 30);
    }
    Agrees(s);
  }
  // Pixels k/255 as the converters write them, and the shortest forms of floats.
  for (int k = 0; k <= 255; ++k) {
    Agrees(std::to_string(k / 255.0f));
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, k / 255.0f);
    Agrees(std::string(buf, end));
  }
}

TEST_CASE("a decimal exactly halfway between two floats rounds to the even one, as strtof does") {
  // 2^24 + 1 and 2^24 + 3 lie halfway between floats (whose spacing is 2 there).
  for (const char* s : {"16777217", "16777219", "-16777217", "16777217.0", "1.6777217e7", "33554434", "33554438",
                        "0.5000000298023223876953125", "1.00000005960464477539062"})
    Agrees(s);
  float f = 0;
  REQUIRE(ParseNumber(std::string_view("16777217"), &f));
  CHECK(f == 16777216.0f);
  REQUIRE(ParseNumber(std::string_view("16777219"), &f));
  CHECK(f == 16777220.0f);
}

TEST_CASE("spaces and a '+' are accepted around a number; anything else is not a number") {
  float f = 0;
  CHECK(ParseNumber(std::string_view(" +0.25 "), &f));
  CHECK(f == 0.25f);
  CHECK(ParseNumber(std::string_view("-0"), &f));
  CHECK(std::signbit(f));
  for (const char* bad : {"", " ", "-", ".", "1.5.3", "1e", "0x10", "1,5", "one", "1e99999"})
    CHECK_FALSE(ParseNumber(std::string_view(bad), &f));
  int32_t i = 0;
  CHECK(ParseNumber(std::string_view("2147483647"), &i));
  CHECK_FALSE(ParseNumber(std::string_view("2147483648"), &i));
  CHECK_FALSE(ParseNumber(std::string_view("1.0"), &i));
  int64_t id = 0;
  CHECK(ParseNumber(std::string_view("-9223372036854775808"), &id));
  CHECK(id == INT64_MIN);
}

TEST_CASE("a field's number ends at its separator, whatever its length") {
  for (const std::string field : {"0", "7", "0.5", "-3", "12", "1e3", "0.003921569"}) {
    for (const std::string after : {",9", " ,9", "\t,9"}) {
      const std::string text = field + after;
      float f = -1;
      const char* next = ParseNumberAt(text.data(), text.data() + text.size(), &f);
      INFO(text);
      REQUIRE(next != nullptr);
      CHECK(*next == ',');
      CHECK(f == std::strtof(field.c_str(), nullptr));
    }
  }
}

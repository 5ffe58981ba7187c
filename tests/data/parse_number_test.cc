#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "data/parse_number.h"
#include "data/simd_fields.h"

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

namespace {

// A random field of the kinds data files hold and of every kind the fast
// path must leave to ParseNumberAt: short and long integers, signs, leading
// zeros, decimals, exponents, spaces, empty fields and bad characters.
std::string RandomField(std::mt19937_64& rng) {
  auto digits = [&](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += static_cast<char>('0' + rng() % 10);
    return s;
  };
  switch (rng() % 12) {
    case 0: return std::to_string(rng() % 10);                              // a lone digit
    case 1: return digits(1 + static_cast<int>(rng() % 7));                 // a short integer, maybe 0-led
    case 2: return std::string(1, '-').append(digits(1 + static_cast<int>(rng() % 9)));  // a negative one
    case 3: return digits(8 + static_cast<int>(rng() % 12));                // 8 to 19 digits
    case 4: return digits(static_cast<int>(rng() % 4)).append(1, '.').append(digits(static_cast<int>(rng() % 12)));
    case 5: {
      std::string s = rng() % 2 ? "-" : "";
      s.append(digits(1 + static_cast<int>(rng() % 3))).append(1, '.').append(digits(1 + static_cast<int>(rng() % 9)));
      return s.append(1, 'e').append(std::to_string(static_cast<int>(rng() % 40) - 20));
    }
    case 6: {  // a float printed as the converters print it
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<float>(rng() % 256) / 255.0f);
      return std::string(buf, end);
    }
    case 7: return std::string(1, rng() % 2 ? ' ' : '\t').append(digits(1 + static_cast<int>(rng() % 3))).append(rng() % 2 ? " " : "");
    case 8: return "";
    case 9: {  // a plain field with one character replaced by a bad one
      std::string s = digits(1 + static_cast<int>(rng() % 6)).append(1, '.').append(digits(1 + static_cast<int>(rng() % 6)));
      const char bad[] = {'a', '+', '-', '.', 'e', 'x', '/', ':', '\0', '\x80'};
      s[rng() % s.size()] = bad[rng() % sizeof bad];
      return s;
    }
    case 10: return rng() % 2 ? std::string("+").append(digits(2)) : std::string("-.").append(digits(3));
    default: {  // halfway between two floats (2^24 + odd), or 15 to 16 characters
      if (rng() % 2) return std::to_string((uint64_t{1} << 24) + 2 * (rng() % 1000) + 1);
      return digits(7).append(1, '.').append(digits(7 + static_cast<int>(rng() % 2)));
    }
  }
}

// Both parsers on the same bytes: the same end and the same bits, or both refuse.
void SameAsParseNumberAt(const std::string& buffer, size_t begin, size_t end, char sep) {
  const char* p = buffer.data() + begin;
  const char* e = buffer.data() + end;
  const char* readable = buffer.data() + buffer.size();
  float fast = -7, slow = -7;
  const char* want = ParseNumberAt(p, e, &slow);
  const char* got = sep == ',' ? ParseFloatField<','>(p, e, readable, &fast) : ParseFloatField<' '>(p, e, readable, &fast);
  INFO("field '" << std::string(p, std::min(e, p + 24)) << "' then '" << std::string(e, std::min(readable, e + 4)) << "'");
  REQUIRE(got == want);
  if (want != nullptr) REQUIRE(Bits(fast) == Bits(slow));
}

}  // namespace

TEST_CASE("a csv or libsvm field reads to the same float and the same end as ParseNumberAt, or is refused as it is") {
  std::mt19937_64 rng(11);
  for (char sep : {',', ' '}) {
    for (int row = 0; row < 4000; ++row) {
      // A line of random fields, then bytes of a next line that must not be read as part of it.
      std::vector<std::pair<size_t, size_t>> fields;
      std::string line;
      const int n = 1 + static_cast<int>(rng() % 40);
      for (int i = 0; i < n; ++i) {
        if (i > 0) line += sep;
        const size_t begin = line.size();
        line += RandomField(rng);
        fields.emplace_back(begin, line.size());
      }
      const size_t line_end = line.size();
      line += rng() % 2 ? "\n12345,67890.5" : "\r\n9";
      for (auto [begin, end] : fields) {
        // As the readers call it: the field up to the line's end, and alone.
        SameAsParseNumberAt(line, begin, line_end, sep);
        SameAsParseNumberAt(line, begin, end, sep);
      }
    }
  }
  // Every plain decimal of up to 15 characters with 1 to 3 significant digits, both signs.
  for (int digits = 1; digits <= 15; ++digits)
    for (int point = 0; point <= digits; ++point)
      for (const char* lead : {"", "-"})
        for (int v : {0, 1, 7, 255, 999}) {
          std::string s = std::to_string(v);
          if (static_cast<int>(s.size()) > digits) continue;
          s.insert(0, static_cast<size_t>(digits) - s.size(), '0');
          if (point < digits) s.insert(static_cast<size_t>(point), 1, '.');
          s.insert(0, lead);
          const std::string buffer = s + ",0000000000000000";
          SameAsParseNumberAt(buffer, 0, s.size(), ',');
          SameAsParseNumberAt(buffer, 0, buffer.size(), ',');
        }
}

TEST_CASE("a line is split at its separators as a byte-by-byte scan splits it, across 64-byte blocks") {
  std::mt19937_64 rng(3);
  for (int line = 0; line < 3000; ++line) {
    // Fields of 0 to 20 bytes, separated by ',' or ':'; the text padded as the chunks are.
    std::string text;
    const int n = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      text.append(rng() % 21, 'x');
      text += rng() % 2 ? ',' : ':';
    }
    text.append(rng() % 70, 'y');
    const size_t size = text.size();
    text.append(64, ',');  // the padding, full of separators that must not count
    std::vector<size_t> want;
    for (size_t i = 0; i < size; ++i)
      if (text[i] == ',' || text[i] == ':') want.push_back(i);
    want.push_back(size);
    std::vector<size_t> got;
    FieldSplitter<',', ':'> split(text.data(), text.data() + size);
    for (const char* e; (e = split.Next()) != nullptr;) got.push_back(static_cast<size_t>(e - text.data()));
    INFO("line of " << size << " bytes");
    REQUIRE(got == want);
  }
}

TEST_CASE("a whole field reads to the same float as ParseNumberAt when it reads all of it, else is refused") {
  std::mt19937_64 rng(17);
  for (int i = 0; i < 200000; ++i) {
    const std::string field = RandomField(rng);
    const std::string buffer = field + ",0000000000000000";
    const char* p = buffer.data();
    const char* e = p + field.size();
    float fast = -7, slow = -7;
    const bool want = ParseNumberAt(p, e, &slow) == e;
    INFO("field '" << field << "'");
    REQUIRE(ParseFieldExact(p, e, &fast) == want);
    if (want) REQUIRE(Bits(fast) == Bits(slow));
  }
}

TEST_CASE("four fields parsed at once read as each field alone, or are all left to it") {
  std::mt19937_64 rng(23);
  int decided = 0;
  for (int i = 0; i < 100000; ++i) {
    // Four fields of a csv line (sometimes one of them the line's last), padded as the chunks are.
    std::string text;
    size_t begin[4], end[4];
    for (int k = 0; k < 4; ++k) {
      begin[k] = text.size();
      switch (rng() % 4) {
        case 0: text += std::to_string(rng() % 10); break;
        case 1: text += RandomField(rng); break;
        default: {
          char buf[32];
          const float f = static_cast<float>(static_cast<int>(rng() % 2001) - 1000) / static_cast<float>(1 + rng() % 999);
          text.append(buf, std::to_chars(buf, buf + sizeof buf, f).ptr);
        }
      }
      end[k] = text.size();
      text += ',';
    }
    text.append(64, '7');
    const char* b[4];
    const char* e[4];
    for (int k = 0; k < 4; ++k) b[k] = text.data() + begin[k], e[k] = text.data() + end[k];
    Decimals4 d;
    ParseDecimals4(b, e, &d);
    bool want_exact = true;
    for (int k = 0; k < 4; ++k) {
      const long length = e[k] - b[k];
      PlainNumber n;
      float f;
      if (!(length > 0 && length < 16 && PlainDecimal16(b[k], static_cast<int>(length), &n) && DecimalToFloat(n, &f)))
        want_exact = false;
    }
    INFO("fields '" << std::string(b[0], e[3]) << "'");
    REQUIRE(d.exact == (kFieldBatches && want_exact));
    if (!d.exact) continue;
    ++decided;
    for (int k = 0; k < 4; ++k) {
      float want = -7;
      REQUIRE(ParseFieldExact(b[k], e[k], &want));
      REQUIRE(Bits(d.values[k]) == Bits(want));
      PlainNumber n;
      REQUIRE(PlainDecimal16(b[k], static_cast<int>(e[k] - b[k]), &n));
      CHECK(d.m[k] == n.m);
    }
    const bool integers = std::string(b[0], e[0]).find_first_of(".-") == std::string::npos &&
                          std::string(b[2], e[2]).find_first_of(".-") == std::string::npos;
    CHECK(d.integers02 == integers);
  }
  if (kFieldBatches) CHECK(decided > 10000);
}

TEST_CASE("a run of lone digits reads as its fields, and stops at the first other field or at its limit") {
  std::mt19937_64 rng(29);
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    const int lone = static_cast<int>(rng() % 20);
    for (int k = 0; k < lone; ++k) text += std::to_string(rng() % 10) + ",";
    text += rng() % 2 ? RandomField(rng) + "," : std::string(rng() % 2 ? "5\n" : "");
    const size_t size = text.size();
    text.append(64, ',');
    const size_t limit = std::min<size_t>(16, rng() % 3 == 0 ? rng() % 17 : size / 2);
    float out[16];
    const size_t n = LoneDigitRun(text.data(), limit, out);
    INFO("text '" << text.substr(0, size) << "' limit " << limit);
    if (!kFieldBatches) {
      CHECK(n == 0);
      continue;
    }
    size_t want = 0;
    while (want < limit && IsDigit(text[2 * want]) && text[2 * want + 1] == ',') ++want;
    REQUIRE(n == want);
    for (size_t k = 0; k < n; ++k) CHECK(out[k] == static_cast<float>(text[2 * k] - '0'));
  }
}

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

// The field of `length` characters at p (1 to 15) when it is a plain
// decimal: an optional '-', then digits with at most one '.' among them, at
// least one digit ("0", "255", "-3", "0.003921569", "-.5"). Reads the 16
// bytes at p, which must be readable (they may lie past the field). No
// branch per character: the digits are found, right-aligned and summed 16 at
// a time (SSE). False when the field is not of this form.
struct PlainNumber {
  uint64_t m = 0;         // the digits as one integer, below 10^15
  int fraction = 0;       // the digits after the '.'
  bool negative = false;  // a '-' leads
  bool dot = false;       // a '.' is there (maybe with no digit after it)
};
inline bool PlainDecimal16(const char* p, int length, PlainNumber* out) {
#ifdef FLOWPS_FIELD_SIMD
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
  const __m128i is_digit = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
  const uint32_t digits = static_cast<uint32_t>(_mm_movemask_epi8(is_digit));
  const uint32_t field = (uint32_t{1} << length) - 1;
  const uint32_t minus = *p == '-' ? 1 : 0;
  const uint32_t other = field & ~digits & ~minus;  // neither a digit nor the sign
  const uint32_t dots = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('.'))));
  // Without a branch that depends on the field's form (data files mix forms
  // at random, "0" beside "0.7372549"): the conditions are combined bitwise.
  const bool plain = (length <= 15) & ((other & ~dots) == 0) & ((other & (other - 1)) == 0) & ((digits & field) != 0);
  // other is now 0 or the one '.'.
  const uint32_t has_dot = other != 0 ? 1 : 0;
  const int dot = __builtin_ctz(other | 0x10000);  // 16: none
  const int kept = length - static_cast<int>(has_dot);  // characters without the '.' (the sign counts as a 0)
  const __m128i shuffle =
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(field_detail::kAlign.rows[dot] + kept));
  const __m128i aligned = _mm_shuffle_epi8(_mm_and_si128(d, is_digit), shuffle);  // 16 digits, most significant first
  const __m128i pairs = _mm_maddubs_epi16(aligned, _mm_setr_epi8(10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1));
  const __m128i quads = _mm_madd_epi16(pairs, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
  const __m128i packed = _mm_packus_epi32(quads, quads);
  const __m128i eights = _mm_madd_epi16(packed, _mm_setr_epi16(10000, 1, 10000, 1, 10000, 1, 10000, 1));
  out->m = static_cast<uint64_t>(static_cast<uint32_t>(_mm_cvtsi128_si32(eights))) * 100000000 +
           static_cast<uint32_t>(_mm_extract_epi32(eights, 1));
  out->fraction = static_cast<int>(has_dot) * (length - dot - 1);
  out->negative = minus != 0;
  out->dot = has_dot != 0;
  return plain;
#else
  (void)p, (void)length, (void)out;
  return false;
#endif
}

// n.m / 10^n.fraction, negated when n.negative, rounded to float exactly
// as strtof rounds it (*out is written either way); false in the rare cases this
// cannot decide. m is an exact double; its product by 10^-fraction (a rounded
// double) is within 2 units in the last place of the exact quotient, so it
// rounds to the same float unless a float midpoint (the 29 bits a float drops
// are 1000...0) lies within 2 units of it: those go the exact way.
inline bool DecimalToFloat(const PlainNumber& n, float* out) {
  static constexpr double kPow10Negative[] = {1e0,  1e-1, 1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,
                                              1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15};
  const double value = static_cast<double>(static_cast<int64_t>(n.m)) * kPow10Negative[n.fraction];
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const float f = static_cast<float>(value);
  uint32_t f_bits;
  std::memcpy(&f_bits, &f, sizeof f_bits);
  f_bits |= static_cast<uint32_t>(n.negative) << 31;
  std::memcpy(out, &f_bits, sizeof f_bits);
  return ((bits & ((uint64_t{1} << 29) - 1)) - ((uint64_t{1} << 28) - 3)) > 6;
}

// The fast path for one field of a delimited file, in PlainDecimal16's
// forms, ended by `sep` or by `end`. Reads the 16 bytes at p, which must be
// readable (they may lie past end). Returns the field's end (the `sep` or
// end), or nullptr when this path does not decide; ParseNumberAt then gives
// what it always gives, and for every field this path decides it gives the
// same float.
template <char Sep>
inline const char* ParseFieldFast16(const char* p, const char* end, float* out) {
#ifdef FLOWPS_FIELD_SIMD
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const uint32_t seps = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(Sep))));
  const size_t left = static_cast<size_t>(end - p);
  const uint32_t stop = seps | (left < 16 ? uint32_t{1} << left : 0) | 0x10000;
  const int length = __builtin_ctz(stop);  // the field's characters, 16: too long
  PlainNumber n;
  if (length == 0 || !PlainDecimal16(p, length, &n) || !DecimalToFloat(n, out)) return nullptr;
  return p + length;
#else
  (void)p, (void)end, (void)out;
  return nullptr;
#endif
}

// Bit i set when p[i] == c, for the 64 bytes at p (which must be readable).
inline uint64_t ByteMask64(const char* p, char c) {
#if defined(__AVX2__)
  const __m256i needle = _mm256_set1_epi8(c);
  const uint32_t lo = static_cast<uint32_t>(
      _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), needle)));
  const uint32_t hi = static_cast<uint32_t>(
      _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32)), needle)));
  return lo | uint64_t{hi} << 32;
#elif defined(__SSE2__)
  const __m128i needle = _mm_set1_epi8(c);
  uint64_t mask = 0;
  for (int i = 0; i < 4; ++i)
    mask |= uint64_t{static_cast<uint32_t>(_mm_movemask_epi8(
                _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i)), needle)))}
            << (16 * i);
  return mask;
#else
  uint64_t mask = 0;
  for (int i = 0; i < 64; ++i) mask |= uint64_t{p[i] == c} << i;
  return mask;
#endif
}

// The fields of [p, end) split at the bytes `Sep` and `Sep2` (the same byte
// for one separator), in order. The separators are found 64 bytes at a time
// into a bit mask, so that no field waits for the one before it to be
// parsed. Reads the bytes from p to end rounded up to a multiple of 64: up
// to 63 past end must be readable. A value on the caller's stack (its state
// then lives in registers); not thread-safe.
template <char Sep, char Sep2 = Sep>
class FieldSplitter {
 public:
  FieldSplitter(const char* p, const char* end) : block_(p), end_(end) { Load(); }
  // The end of the next field: the separator after it, or end for the last
  // one (an empty text is one empty field); nullptr after the last.
  const char* Next() {
    while (mask_ == 0) {
      if (last_block_) {
        if (done_) return nullptr;
        done_ = true;
        return end_;
      }
      block_ += 64;
      Load();
    }
    const char* sep = block_ + __builtin_ctzll(mask_);
    mask_ &= mask_ - 1;
    return sep;
  }
  // The ends of the next four fields (Next() four times); false when the
  // text ends before the fourth (the ends then are unspecified).
  bool Next4(const char* ends[4]) {
    if (__builtin_popcountll(mask_) >= 4) {  // the common case: no branch per field
      for (int k = 0; k < 4; ++k) {
        ends[k] = block_ + __builtin_ctzll(mask_);
        mask_ &= mask_ - 1;
      }
      return true;
    }
    for (int k = 0; k < 4; ++k)
      if ((ends[k] = Next()) == nullptr) return false;
    return true;
  }
  // Drops the separators before q, a field's start that the caller reached
  // by other means (q at most the text's end).
  void SkipTo(const char* q) {
    while (!last_block_ && q - block_ >= 64) {
      block_ += 64;
      Load();
    }
    const size_t off = static_cast<size_t>(q - block_);
    mask_ &= off >= 64 ? 0 : ~uint64_t{0} << off;
  }

 private:
  void Load() {
    const size_t left = static_cast<size_t>(end_ - block_);
    mask_ = ByteMask64(block_, Sep);
    if constexpr (Sep2 != Sep) mask_ |= ByteMask64(block_, Sep2);
    if (left <= 64) {
      last_block_ = true;
      if (left < 64) mask_ &= (uint64_t{1} << left) - 1;
    }
  }

  const char* block_;
  const char* end_;
  uint64_t mask_ = 0;
  bool last_block_ = false, done_ = false;
};

// The float field [p, e) exactly as ParseNumberAt reads it when it reads all
// of it (spaces around the number, a '+', exponents, from_chars' forms): true
// and *out; false when ParseNumberAt refuses it or stops before e. The plain
// decimals (PlainDecimal16) take the fast path. The 16 bytes at p must be
// readable.
inline bool ParseFieldExact(const char* p, const char* e, float* out) {
  const long length = e - p;
  if (length == 1 && IsDigit(*p)) {  // a lone digit: 0 and 1 fill many data files
    *out = static_cast<float>(*p - '0');
    return true;
  }
  PlainNumber n;
  if (length > 1 && length < 16 && PlainDecimal16(p, static_cast<int>(length), &n) && DecimalToFloat(n, out))
    return true;
  return ParseNumberAt(p, e, out) == e;
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

#include "data/npy_format.h"

#include <charconv>
#include <cstring>

namespace flowps::data {
namespace {

struct TypeInfo {
  NpyType type;
  const char* descr;
  size_t size;
};
constexpr TypeInfo kTypes[] = {
    {NpyType::kFloat32, "<f4", 4}, {NpyType::kFloat64, "<f8", 8}, {NpyType::kInt8, "|i1", 1},
    {NpyType::kUInt8, "|u1", 1},   {NpyType::kInt16, "<i2", 2},   {NpyType::kUInt16, "<u2", 2},
    {NpyType::kInt32, "<i4", 4},   {NpyType::kInt64, "<i8", 8},
};

// The quoted value after 'key': in the header dict, or the raw text up to the next ',' / ')'.
std::string DictValue(const std::string& dict, const std::string& key) {
  size_t k = dict.find("'" + key + "'");
  if (k == std::string::npos) return "";
  size_t colon = dict.find(':', k);
  if (colon == std::string::npos) return "";
  size_t v = dict.find_first_not_of(' ', colon + 1);
  if (v == std::string::npos) return "";
  if (dict[v] == '\'') {
    size_t end = dict.find('\'', v + 1);
    return end == std::string::npos ? "" : dict.substr(v + 1, end - v - 1);
  }
  if (dict[v] == '(') {
    size_t end = dict.find(')', v);
    return end == std::string::npos ? "" : dict.substr(v, end - v + 1);
  }
  size_t end = dict.find_first_of(",}", v);
  return dict.substr(v, end == std::string::npos ? std::string::npos : end - v);
}

template <typename From, typename To>
void Convert(const char* src, size_t n, char* dst) {
  if constexpr (std::is_same_v<From, To>) {
    std::memcpy(dst, src, n * sizeof(From));
  } else {
    for (size_t i = 0; i < n; ++i) {
      From v;
      std::memcpy(&v, src + i * sizeof(From), sizeof v);
      To t = static_cast<To>(v);
      std::memcpy(dst + i * sizeof(To), &t, sizeof t);
    }
  }
}

}  // namespace

size_t NpyTypeSize(NpyType t) {
  for (const TypeInfo& i : kTypes)
    if (i.type == t) return i.size;
  return 0;
}

const char* NpyDescr(NpyType t) {
  for (const TypeInfo& i : kTypes)
    if (i.type == t) return i.descr;
  return "?";
}

StatusOr<NpyHeader> ParseNpyHeader(const std::string& where, const char* bytes, size_t size) {
  const std::string at = where + ":0: ";
  if (size < 10 || std::memcmp(bytes, "\x93NUMPY", 6) != 0) return InvalidArgument(at + "not an .npy file (bad magic)");
  const int major = static_cast<uint8_t>(bytes[6]);
  size_t len = 0, start = 0;
  if (major == 1) {
    len = static_cast<uint8_t>(bytes[8]) | size_t{static_cast<uint8_t>(bytes[9])} << 8;
    start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) return InvalidArgument(at + "truncated header");
    for (int i = 3; i >= 0; --i) len = len << 8 | static_cast<uint8_t>(bytes[8 + i]);
    start = 12;
  } else {
    return InvalidArgument(at + "unknown .npy version " + std::to_string(major));
  }
  if (start + len > size) return InvalidArgument(at + "truncated header");
  const std::string dict(bytes + start, len);
  NpyHeader h;
  h.data_offset = start + len;
  const std::string descr = DictValue(dict, "descr");
  bool known = false;
  for (const TypeInfo& i : kTypes)
    if (descr == i.descr || (i.size == 1 && descr == std::string("<") + (i.descr + 1))) {
      h.type = i.type;
      known = true;
    }
  if (!known)
    return InvalidArgument(at + "dtype '" + descr +
                           "' is not read (little-endian float32, float64, int8..int64, uint8, uint16 are)");
  if (DictValue(dict, "fortran_order") != "False")
    return InvalidArgument(at + "a Fortran-order array is not read (save it C-contiguous)");
  const std::string shape = DictValue(dict, "shape");
  if (shape.size() < 2 || shape.front() != '(') return InvalidArgument(at + "no shape in the header");
  for (size_t p = 1; p < shape.size() - 1;) {
    size_t q = shape.find_first_not_of(" ,", p);
    if (q == std::string::npos || q >= shape.size() - 1) break;
    int64_t d = 0;
    auto [end, ec] = std::from_chars(shape.data() + q, shape.data() + shape.size() - 1, d);
    if (ec != std::errc() || d < 0) return InvalidArgument(at + "bad shape " + shape);
    h.shape.push_back(d);
    p = static_cast<size_t>(end - shape.data());
  }
  return h;
}

void ConvertNpyValues(NpyType type, const char* src, size_t n, char* dst) {
  switch (type) {
    case NpyType::kFloat32: Convert<float, float>(src, n, dst); break;
    case NpyType::kFloat64: Convert<double, float>(src, n, dst); break;
    case NpyType::kInt8: Convert<int8_t, int32_t>(src, n, dst); break;
    case NpyType::kUInt8: Convert<uint8_t, int32_t>(src, n, dst); break;
    case NpyType::kInt16: Convert<int16_t, int32_t>(src, n, dst); break;
    case NpyType::kUInt16: Convert<uint16_t, int32_t>(src, n, dst); break;
    case NpyType::kInt32: Convert<int32_t, int32_t>(src, n, dst); break;
    case NpyType::kInt64: Convert<int64_t, int64_t>(src, n, dst); break;
  }
}

StatusOr<std::string> NpyHeaderBytes(NpyType type, const std::vector<int64_t>& shape, size_t total) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 1);  // "(3, 4)" but "(3,)"
  if (shape.size() > 1) dims.pop_back();
  std::string dict = std::string("{'descr': '") + NpyDescr(type) + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  if (10 + dict.size() + 1 > total) return InvalidArgument("the .npy header of shape " + dims + " does not fit");
  std::string header("\x93NUMPY\x01\x00", 8);
  const size_t len = total - 10;
  header += static_cast<char>(len & 0xff);
  header += static_cast<char>(len >> 8);
  header += dict;
  header.append(total - header.size() - 1, ' ');
  header += '\n';
  return header;
}

}  // namespace flowps::data

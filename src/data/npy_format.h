// The .npy array format (numpy's NEP 1): header parsing for the reader,
// header writing for `flowps data convert`. Little-endian, C order only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace flowps::data {

enum class NpyType { kFloat32, kFloat64, kInt8, kUInt8, kInt16, kUInt16, kInt32, kInt64 };

size_t NpyTypeSize(NpyType t);
const char* NpyDescr(NpyType t);  // "<f4", "|u1", ...

struct NpyHeader {
  NpyType type = NpyType::kFloat32;
  std::vector<int64_t> shape;
  size_t data_offset = 0;  // bytes from the start of the file to the data
};

// Parses the header at the start of `bytes`; errors are "where:0: ..." (the
// header is record 0).
StatusOr<NpyHeader> ParseNpyHeader(const std::string& where, const char* bytes, size_t size);

// Converts n values of `type` at src to the column dtype (float32 for
// floats, int64 for int64, int32 for the smaller integers) at dst.
void ConvertNpyValues(NpyType type, const char* src, size_t n, char* dst);

// A version 1.0 header for `type` and `shape`, padded to `total` bytes
// (a multiple of 64, room for the dict), so that it can be rewritten in place
// once the row count is known. InvalidArgument if it does not fit.
StatusOr<std::string> NpyHeaderBytes(NpyType type, const std::vector<int64_t>& shape, size_t total = 128);

}  // namespace flowps::data

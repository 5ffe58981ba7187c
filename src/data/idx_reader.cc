#include "data/idx_reader.h"

#include <zlib.h>

#include <cstdio>
#include <memory>

namespace flowps::data {
namespace {

constexpr uint8_t kUnsignedByte = 0x08;
constexpr size_t kMaxBytes = size_t{1} << 31;  // refuse anything larger (a gzip bomb, a wrong file)

StatusOr<std::vector<uint8_t>> ReadWholeFile(const std::string& path) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> f(gzopen(path.c_str(), "rb"), gzclose);
  if (!f) return NotFound(path + ": cannot open file");
  std::vector<uint8_t> out;
  std::vector<uint8_t> chunk(1 << 20);
  for (;;) {
    int n = gzread(f.get(), chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int err = 0;
      const char* msg = gzerror(f.get(), &err);
      return InvalidArgument(path + ": cannot decompress: " + (msg ? msg : "unknown zlib error"));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > kMaxBytes) return InvalidArgument(path + ": larger than 2 GiB");
    out.insert(out.end(), chunk.begin(), chunk.begin() + n);
  }
  return out;
}

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

StatusOr<IdxArray> ReadIdxFile(const std::string& path, int rank) {
  FLOWPS_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadWholeFile(path));
  if (bytes.size() < 4) return InvalidArgument(path + ": too short for an IDX header (" + std::to_string(bytes.size()) + " bytes)");
  uint32_t want_magic = (uint32_t{kUnsignedByte} << 8) | static_cast<uint32_t>(rank);
  uint32_t magic = BigEndian32(bytes.data());
  if (magic != want_magic) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "bad magic number 0x%08x (want 0x%08x)", magic, want_magic);
    return InvalidArgument(path + ": " + buf + ": not an IDX file of unsigned bytes with " + std::to_string(rank) +
                           " dimensions");
  }
  size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() < header) return InvalidArgument(path + ": truncated IDX header");
  IdxArray out;
  uint64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    uint32_t d = BigEndian32(bytes.data() + 4 + 4 * i);
    out.dims.push_back(d);
    count *= d;
    if (count > kMaxBytes) return InvalidArgument(path + ": dimensions are too large");
  }
  if (bytes.size() - header != count)
    return InvalidArgument(path + ": the header promises " + std::to_string(count) + " values but the file holds " +
                           std::to_string(bytes.size() - header));
  out.values.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return out;
}

StatusOr<Tensor> ReadIdxImages(const std::string& path) {
  FLOWPS_ASSIGN_OR_RETURN(IdxArray a, ReadIdxFile(path, 3));
  Tensor t(DType::kFloat32, Shape{a.dims[0], a.dims[1], a.dims[2]});
  float* out = t.data<float>();
  for (size_t i = 0; i < a.values.size(); ++i) out[i] = static_cast<float>(a.values[i]) * (1.0f / 255.0f);
  return t;
}

StatusOr<Tensor> ReadIdxLabels(const std::string& path, int num_classes) {
  FLOWPS_ASSIGN_OR_RETURN(IdxArray a, ReadIdxFile(path, 1));
  Tensor t(DType::kInt32, Shape{a.dims[0]});
  int32_t* out = t.data<int32_t>();
  for (size_t i = 0; i < a.values.size(); ++i) {
    if (a.values[i] >= num_classes)
      return InvalidArgument(path + ": label " + std::to_string(a.values[i]) + " at index " + std::to_string(i) +
                             " is not below " + std::to_string(num_classes));
    out[i] = a.values[i];
  }
  return t;
}

}  // namespace flowps::data

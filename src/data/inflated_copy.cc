#include "data/inflated_copy.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <vector>

namespace flowps::data {
namespace {

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

bool IsGzip(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  unsigned char magic[2] = {0, 0};
  const bool gz = std::fread(magic, 1, 2, f) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  std::fclose(f);
  return gz;
}

// Inflates `from` into `to`; false (and `to` removed) unless every byte
// inflated cleanly and was written.
bool Inflate(const std::string& from, const std::string& to) {
  gzFile in = gzopen(from.c_str(), "rb");
  if (in == nullptr) return false;
  std::FILE* out = std::fopen(to.c_str(), "wb");
  bool ok = out != nullptr;
  std::vector<char> buffer(size_t{1} << 20);
  while (ok) {
    const int got = gzread(in, buffer.data(), static_cast<unsigned>(buffer.size()));
    if (got <= 0) {
      ok = got == 0;
      break;
    }
    ok = std::fwrite(buffer.data(), 1, static_cast<size_t>(got), out) == static_cast<size_t>(got);
  }
  ok = gzclose_r(in) == Z_OK && ok;
  if (out != nullptr) ok = std::fclose(out) == 0 && ok;
  if (!ok) std::remove(to.c_str());
  return ok;
}

}  // namespace

std::string DefaultInflateCacheDir() {
  std::error_code ec;
  std::filesystem::path tmp = std::filesystem::temp_directory_path(ec);
  if (ec) tmp = "/tmp";
  return (tmp / ("flowps-inflated-" + std::to_string(getuid()))).string();
}

std::string InflatedCopy(const std::string& path, const std::string& cache_dir, uint64_t min_bytes) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) < min_bytes ||
      !IsGzip(path))
    return path;
  std::error_code ec;
  const std::string absolute = std::filesystem::absolute(path, ec).string();
  std::string base = std::filesystem::path(path).filename().string();
  if (base.size() > 3 && base.compare(base.size() - 3, 3, ".gz") == 0) base.resize(base.size() - 3);
  char key[80];
  std::snprintf(key, sizeof key, "%016llx-%llx-%llx.%09ld-", static_cast<unsigned long long>(Fnv1a(absolute)),
                static_cast<unsigned long long>(st.st_size), static_cast<unsigned long long>(st.st_mtim.tv_sec),
                st.st_mtim.tv_nsec);
  const std::string copy = cache_dir + "/" + key + base;
  if (access(copy.c_str(), R_OK) == 0) return copy;
  std::filesystem::create_directories(cache_dir, ec);
  const std::string temp = copy + ".part-" + std::to_string(getpid()) + "-" + std::to_string(std::random_device{}());
  if (!Inflate(path, temp)) return path;
  if (std::rename(temp.c_str(), copy.c_str()) != 0) {
    std::remove(temp.c_str());
    return path;
  }
  return copy;
}

}  // namespace flowps::data

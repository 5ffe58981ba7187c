// Writes small gzip'ed IDX files for the data tests, into a temp directory
// removed by the destructor.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

namespace flowps::testing {

class IdxDir {
 public:
  IdxDir() : dir_(std::filesystem::temp_directory_path() / ("flowps_idx_" + std::to_string(::getpid()) + "_" +
                                                             std::to_string(counter_++))) {
    std::filesystem::create_directories(dir_);
  }
  ~IdxDir() { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes header (magic type/rank + dims) and body; `gzip` false writes plain bytes.
  std::string Write(const std::string& name, uint8_t type, std::vector<uint32_t> dims, const std::vector<uint8_t>& body,
                    bool gzip = true) const {
    std::vector<uint8_t> bytes = {0, 0, type, static_cast<uint8_t>(dims.size())};
    for (uint32_t d : dims)
      for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<uint8_t>(d >> s));
    bytes.insert(bytes.end(), body.begin(), body.end());
    std::string p = path(name);
    gzFile f = gzopen(p.c_str(), gzip ? "wb" : "wbT");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
    return p;
  }

  // Writes `text` to `name`, gzip-compressed when `gzip`.
  std::string WriteText(const std::string& name, const std::string& text, bool gzip = false) const {
    std::string p = path(name);
    gzFile f = gzopen(p.c_str(), gzip ? "wb" : "wbT");
    gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
    gzclose(f);
    return p;
  }

  // A Fashion-MNIST-like pair of files: n images of 28x28 where every pixel of
  // image i is (i % 256), and label i % 10.
  void WriteFashionLike(const std::string& prefix, uint32_t n) const {
    std::vector<uint8_t> pixels(static_cast<size_t>(n) * 28 * 28), labels(n);
    for (uint32_t i = 0; i < n; ++i) {
      for (size_t p = 0; p < 28 * 28; ++p) pixels[i * 28 * 28 + p] = static_cast<uint8_t>(i % 256);
      labels[i] = static_cast<uint8_t>(i % 10);
    }
    Write(prefix + "-images-idx3-ubyte.gz", 0x08, {n, 28, 28}, pixels);
    Write(prefix + "-labels-idx1-ubyte.gz", 0x08, {n}, labels);
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
};

}  // namespace flowps::testing

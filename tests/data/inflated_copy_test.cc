#include <catch2/catch.hpp>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "data/inflated_copy.h"

using namespace flowps::data;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char name[] = "/tmp/flowps-inflated-test-XXXXXX";
    path = mkdtemp(name);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string WriteGz(const fs::path& path, const std::string& content) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, content.data(), static_cast<unsigned>(content.size()));
  gzclose(f);
  return path.string();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string Content(char seed, size_t n) {
  std::string s(n, ' ');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + static_cast<char>(i * 7 % 251));
  return s;
}

size_t FilesIn(const fs::path& dir) {
  if (!fs::exists(dir)) return 0;
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST_CASE("a gzip'ed file is inflated once into the cache folder, and later readers read that copy") {
  TempDir dir;
  const fs::path cache = dir.path / "cache";
  const std::string gz = WriteGz(dir.path / "images.gz", Content('a', 100000));
  const std::string copy = InflatedCopy(gz, cache.string(), 1);
  CHECK(copy != gz);
  CHECK(fs::path(copy).parent_path() == cache);
  CHECK_THAT(copy, Catch::EndsWith("images"));
  CHECK(ReadAll(copy) == Content('a', 100000));
  const auto made = fs::last_write_time(copy);
  CHECK(InflatedCopy(gz, cache.string(), 1) == copy);
  CHECK(fs::last_write_time(copy) == made);
  CHECK(FilesIn(cache) == 1);
}

TEST_CASE("a changed file gets a copy of its own: a reader never sees the old contents") {
  TempDir dir;
  const fs::path cache = dir.path / "cache";
  const std::string gz = WriteGz(dir.path / "labels.gz", Content('a', 5000));
  const std::string first = InflatedCopy(gz, cache.string(), 1);
  WriteGz(gz, Content('b', 6000));
  const std::string second = InflatedCopy(gz, cache.string(), 1);
  CHECK(second != first);
  CHECK(ReadAll(second) == Content('b', 6000));
}

TEST_CASE("a truncated gzip file gets no copy, so its reader reports the damage in the original") {
  TempDir dir;
  const fs::path cache = dir.path / "cache";
  const std::string gz = WriteGz(dir.path / "cut.gz", Content('a', 200000));
  fs::resize_file(gz, fs::file_size(gz) / 2);
  CHECK(InflatedCopy(gz, cache.string(), 1) == gz);
  CHECK(FilesIn(cache) == 0);  // no copy and no partial file left behind
}

TEST_CASE("plain files, small gzip files and an unusable cache folder read the original") {
  TempDir dir;
  const std::string plain = (dir.path / "plain.csv").string();
  std::ofstream(plain) << Content('a', 3000);
  CHECK(InflatedCopy(plain, (dir.path / "cache").string(), 1) == plain);
  const std::string gz = WriteGz(dir.path / "small.gz", Content('a', 3000));
  CHECK(InflatedCopy(gz, (dir.path / "cache").string(), 1 << 20) == gz);
  CHECK(InflatedCopy(gz, "/proc/no-such-folder", 1) == gz);
  CHECK(InflatedCopy((dir.path / "missing.gz").string(), (dir.path / "cache").string(), 1) ==
        (dir.path / "missing.gz").string());
}

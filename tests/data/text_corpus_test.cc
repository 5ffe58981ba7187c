// The text format on a real corpus: Debian's `fortunes` (about 2.5 MB of
// English in /usr/share/games/fortunes, installed by scripts/install-deps.sh).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "data/pipeline.h"
#include "idx_files.h"

using namespace flowps;
using namespace flowps::data;
namespace fs = std::filesystem;

TEST_CASE("the fortunes corpus reads as byte sequences whose targets are the next bytes, every byte once") {
  const fs::path corpus = "/usr/share/games/fortunes";
  REQUIRE(fs::is_directory(corpus));  // the package fortunes (scripts/install-deps.sh)
  // The text files only: not the .dat indexes nor the .u8 links.
  testing::IdxDir dir;
  fs::create_directories(dir.path("corpus"));
  int64_t expected = 0, bytes = 0;
  constexpr int64_t kLength = 64;
  std::string first_file;
  for (const auto& e : fs::directory_iterator(corpus)) {
    if (!e.is_regular_file() || e.path().has_extension()) continue;
    fs::create_symlink(e.path(), dir.path("corpus/" + e.path().filename().string()));
    const int64_t size = static_cast<int64_t>(e.file_size());
    expected += (size - 1) / kLength;
    bytes += size;
    if (first_file.empty() || e.path().string() < first_file) first_file = e.path().string();
  }
  REQUIRE(bytes > 1000000);

  SourceOptions text;
  text.format = DataFormat::kText;
  text.sequence_length = kLength;
  auto source = DataSource::Open(text, dir.path("corpus"));
  REQUIRE(source.ok());
  CHECK(DescribeSchema(source->schema()) == "tokens int32 [64], targets int32 [64]");
  PipelineOptions once;
  once.batch_size = 256;
  once.epochs = 1;
  auto pipe = Pipeline::Start(*source, once);
  REQUIRE(pipe.ok());
  std::ifstream in(first_file, std::ios::binary);
  std::string head(static_cast<size_t>(kLength), '\0');
  in.read(head.data(), kLength);
  int64_t sequences = 0;
  bool shifted = true;
  for (;;) {
    auto b = (*pipe)->Next();
    if (!b.ok()) {
      REQUIRE(b.status().code() == Code::kOutOfRange);
      break;
    }
    const int32_t* tokens = b->columns.at("tokens").data<int32_t>();
    const int32_t* targets = b->columns.at("targets").data<int32_t>();
    if (sequences == 0) {
      std::string decoded;
      for (int64_t i = 0; i < kLength; ++i) decoded.push_back(static_cast<char>(tokens[i]));
      CHECK(decoded == head);
    }
    for (int64_t r = 0; r < b->size; ++r)
      for (int64_t i = 0; i + 1 < kLength; ++i)
        shifted = shifted && targets[r * kLength + i] == tokens[r * kLength + i + 1] && tokens[r * kLength + i] >= 0 &&
                  tokens[r * kLength + i] < 256;
    sequences += b->size;
  }
  CHECK(shifted);
  CHECK(sequences == expected);
}

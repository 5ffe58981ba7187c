#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "worker/batch_sources.h"

using namespace flowps;

namespace {

std::filesystem::path WriteCsv(const std::string& name, const std::string& text) {
  auto dir = std::filesystem::temp_directory_path() / ("flowps_batch_sources_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name) << text;
  return dir / name;
}

std::unique_ptr<PipelineBatchSource> Source(const std::string& file, int worker, int workers) {
  data::SourceOptions options;
  options.format = DataFormat::kCsv;
  auto source = data::DataSource::Open(options, file);
  REQUIRE(source.ok());
  data::PipelineOptions reading;
  reading.batch_size = 2;
  reading.worker = worker;
  reading.num_workers = workers;
  auto pipeline = data::Pipeline::Start(*source, reading);
  REQUIRE(pipeline.ok());
  return std::make_unique<PipelineBatchSource>(std::move(pipeline).value());
}

}  // namespace

TEST_CASE("two workers' batch sources over one csv file share its rows, each seen once per epoch") {
  auto file = WriteCsv("rows.csv", "a,b,label\n0,0,0\n1,1,1\n2,2,2\n3,3,3\n4,4,4\n5,5,5\n");
  std::multiset<int32_t> seen;
  for (int worker = 0; worker < 2; ++worker) {
    auto batches = Source(file, worker, 2);
    int64_t taken = 0;
    while (taken < 3) {
      auto b = batches->Next();
      REQUIRE(b.ok());
      CHECK(b->columns.at("features").shape().dim(1) == 2);
      const Tensor& labels = b->columns.at("label");
      for (int64_t i = 0; i < b->size; ++i) seen.insert(labels.data<int32_t>()[i]);
      taken += b->size;
    }
    CHECK(taken == 3);  // epoch 0 of this worker's shard: 3 of the 6 rows
  }
  CHECK(seen == std::multiset<int32_t>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("a malformed row reaches the worker's Next() as file:line") {
  auto file = WriteCsv("bad.csv", "a,label\n0,0\nzz,1\n");
  auto batches = Source(file, 0, 1);
  StatusOr<data::ColumnBatch> b = batches->Next();
  while (b.ok()) b = batches->Next();
  CHECK(b.status().message().find(file.string() + ":3:") != std::string::npos);
}

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <algorithm>
#include <cstring>
#include <random>
#include <set>

#include "data/pipeline.h"
#include "idx_files.h"

using namespace flowps;
using namespace flowps::data;

namespace {

// `files` csv files of `per_file` rows; row k overall has x = k and label k % 10.
std::string WriteNumbered(const testing::IdxDir& dir, const std::string& sub, int files, int per_file) {
  std::filesystem::create_directories(dir.path(sub));
  int k = 0;
  for (int f = 0; f < files; ++f) {
    std::string text = "x,label\n";
    for (int r = 0; r < per_file; ++r, ++k) text += std::to_string(k) + "," + std::to_string(k % 10) + "\n";
    dir.WriteText(sub + "/part-" + std::to_string(f) + ".csv", text);
  }
  return dir.path(sub);
}

DataSource Csv(const std::string& pattern) {
  SourceOptions o;
  o.format = DataFormat::kCsv;
  auto s = DataSource::Open(o, pattern);
  REQUIRE(s.ok());
  return *s;
}

// The x of every example one pipeline delivers in its first `epochs` epochs, per epoch.
std::map<int64_t, std::vector<int64_t>> Drain(const DataSource& source, PipelineOptions o) {
  auto p = Pipeline::Start(source, o);
  REQUIRE(p.ok());
  std::map<int64_t, std::vector<int64_t>> seen;
  for (;;) {
    auto b = (*p)->Next();
    if (!b.ok()) {
      CHECK(b.status().code() == Code::kOutOfRange);
      return seen;
    }
    CHECK(b->size <= o.batch_size);
    const Tensor& x = b->columns.at("features");
    for (int64_t i = 0; i < b->size; ++i) seen[b->epoch].push_back(static_cast<int64_t>(x.data<float>()[i]));
  }
}

}  // namespace

TEST_CASE("every example is seen exactly once per epoch across the workers, by files or by records") {
  testing::IdxDir dir;
  // 5 files for 2 and 3 workers (split by files), 2 files for 3 workers (split by records).
  for (auto [files, workers] : {std::pair{5, 2}, {5, 3}, {2, 3}, {1, 4}}) {
    DataSource source = Csv(WriteNumbered(dir, "d" + std::to_string(files) + std::to_string(workers), files, 7));
    const int64_t total = files * 7;
    CHECK(CountExamples(source).value() == total);
    std::map<int64_t, std::multiset<int64_t>> cluster;
    for (int w = 0; w < workers; ++w) {
      PipelineOptions o;
      o.batch_size = 3;
      o.shuffle_buffer = 4;
      o.seed = 11;
      o.worker = w;
      o.num_workers = workers;
      o.epochs = 2;
      auto counted = CountShardExamples(source, w, workers);
      REQUIRE(counted.ok());
      auto mine = Drain(source, o);
      for (auto& [epoch, xs] : mine) {
        CHECK(static_cast<int64_t>(xs.size()) == *counted);
        cluster[epoch].insert(xs.begin(), xs.end());
      }
    }
    REQUIRE(cluster.size() == 2);
    for (auto& [epoch, xs] : cluster) {
      INFO("files " << files << " workers " << workers << " epoch " << epoch);
      CHECK(static_cast<int64_t>(xs.size()) == total);
      CHECK(std::set<int64_t>(xs.begin(), xs.end()).size() == static_cast<size_t>(total));
    }
  }
}

TEST_CASE("the shuffle buffer reorders within an epoch, differently each epoch, and repeats with the seed") {
  testing::IdxDir dir;
  DataSource source = Csv(WriteNumbered(dir, "s", 1, 200));
  PipelineOptions o;
  o.batch_size = 32;
  o.shuffle_buffer = 50;
  o.seed = 3;
  o.epochs = 2;
  auto a = Drain(source, o), b = Drain(source, o);
  CHECK(a == b);
  std::vector<int64_t> in_order(200);
  for (int i = 0; i < 200; ++i) in_order[static_cast<size_t>(i)] = i;
  CHECK(a[0] != in_order);
  CHECK(a[0] != a[1]);
  CHECK(std::set<int64_t>(a[0].begin(), a[0].end()).size() == 200);
  o.shuffle_buffer = 0;
  CHECK(Drain(source, o)[0] == in_order);
}

TEST_CASE("a malformed record stops the pipeline with its file and line after the batches before it") {
  testing::IdxDir dir;
  std::string p = dir.WriteText("bad.csv", "x,label\n1,1\n2,2\n3,oops\n4,4\n");
  PipelineOptions o;
  o.batch_size = 2;
  auto pipe = Pipeline::Start(Csv(p), o);
  REQUIRE(pipe.ok());
  auto first = (*pipe)->Next();
  REQUIRE(first.ok());
  CHECK(first->size == 2);
  auto second = (*pipe)->Next();
  REQUIRE(!second.ok());
  CHECK(second.status().message() == p + ":4: label column 'label' holds 'oops', not an integer");
  CHECK((*pipe)->Next().status().message() == second.status().message());
}

TEST_CASE("the reading thread stays at most prefetch_batches ahead and stops when the pipeline is destroyed") {
  testing::IdxDir dir;
  DataSource source = Csv(WriteNumbered(dir, "p", 1, 50));
  PipelineOptions o;
  o.batch_size = 1;
  o.prefetch_batches = 2;
  auto pipe = Pipeline::Start(source, o);  // epochs 0: endless
  REQUIRE(pipe.ok());
  for (int i = 0; i < 120; ++i) {
    auto b = (*pipe)->Next();
    REQUIRE(b.ok());
    CHECK(b->epoch == i / 50);
  }
  pipe->reset();  // joins the thread, which is blocked on a full queue
}

TEST_CASE("a worker without examples is told so rather than waiting forever") {
  testing::IdxDir dir;
  DataSource source = Csv(dir.WriteText("one.csv", "x,label\n1,1\n"));
  PipelineOptions o;
  o.worker = 1;
  o.num_workers = 2;
  auto pipe = Pipeline::Start(source, o);
  REQUIRE(pipe.ok());
  auto b = (*pipe)->Next();
  REQUIRE(!b.ok());
  CHECK(b.status().message().find("worker 1 of 2 has no examples in") != std::string::npos);
}

TEST_CASE("libsvm batches carry each example's ids and values between its offsets, batch after batch") {
  testing::IdxDir dir;
  // Example k has k % 4 pairs: ids 100k, 100k+1, ...; values k + j/4; label k % 10.
  std::string text;
  for (int k = 0; k < 11; ++k) {
    text += std::to_string(k % 10);
    for (int j = 0; j < k % 4; ++j) text += " " + std::to_string(100 * k + j) + ":" + std::to_string(k + j / 4.0);
    text += "\n";
  }
  SourceOptions o;
  o.format = DataFormat::kLibsvm;
  auto source = DataSource::Open(o, dir.WriteText("r.svm", text));
  REQUIRE(source.ok());
  PipelineOptions once;
  once.batch_size = 4;
  once.epochs = 1;
  auto p = Pipeline::Start(*source, once);
  REQUIRE(p.ok());
  std::vector<ColumnBatch> batches;  // all kept: a later batch must not disturb an earlier one
  for (;;) {
    auto b = (*p)->Next();
    if (!b.ok()) break;
    batches.push_back(*b);
  }
  REQUIRE(batches.size() == 3);
  int k = 0;
  for (const ColumnBatch& b : batches) {
    const std::vector<int64_t> offsets = b.columns.at("offsets").ToVector<int64_t>();
    const std::vector<int64_t> ids = b.columns.at("ids").ToVector<int64_t>();
    const std::vector<float> values = b.columns.at("values").ToVector<float>();
    REQUIRE(offsets.size() == static_cast<size_t>(b.size) + 1);
    CHECK(offsets.front() == 0);
    CHECK(offsets.back() == static_cast<int64_t>(ids.size()));
    CHECK(values.size() == ids.size());
    for (int64_t i = 0; i < b.size; ++i, ++k) {
      INFO("example " << k);
      REQUIRE(offsets[static_cast<size_t>(i) + 1] - offsets[static_cast<size_t>(i)] == k % 4);
      for (int j = 0; j < k % 4; ++j) {
        CHECK(ids[static_cast<size_t>(offsets[static_cast<size_t>(i)] + j)] == 100 * k + j);
        CHECK(values[static_cast<size_t>(offsets[static_cast<size_t>(i)] + j)] == static_cast<float>(k + j / 4.0));
      }
    }
  }
  CHECK(k == 11);
}

TEST_CASE("the shuffle buffer draws as a buffer of copies would, while it compacts the blocks it holds") {
  // Blocks of 1 to 300 records (a dense column: the record's number; a
  // ragged one: as many values as number % 3), added one by one.
  Schema schema = {{"x", DType::kInt64, {}, ""}, {"r", DType::kInt32, {}, "offsets"}};
  for (int64_t capacity : {1, 7, 50, 400}) {
    std::mt19937_64 sizes(static_cast<uint64_t>(capacity));
    BlockPool pool;
    ShuffleBuffer buffer(capacity, &pool);
    buffer.Restart(99);
    // The buffer of copies it replaced, with the same draws.
    std::mt19937_64 rng(99);
    std::vector<int64_t> copies;
    std::vector<int64_t> got, want;
    auto check = [&](const RecordBlock& b, int64_t i) {
      int64_t x;
      std::memcpy(&x, b.Record(0, i).data(), sizeof x);
      CHECK(b.Record(1, i).size() == static_cast<size_t>(x % 3) * sizeof(int32_t));
      got.push_back(x);
    };
    int64_t next = 0, max_held = 0;
    for (int blocks = 0; blocks < 60; ++blocks) {
      auto block = std::make_shared<RecordBlock>();
      block->Reset(schema);
      const int64_t n = 1 + static_cast<int64_t>(sizes() % 300);
      for (int64_t i = 0; i < n; ++i, ++next) {
        std::memcpy(block->Grow(0, sizeof next), &next, sizeof next);
        for (int64_t v = 0; v < next % 3; ++v) {
          const int32_t value = static_cast<int32_t>(v);
          std::memcpy(block->Grow(1, sizeof value), &value, sizeof value);
        }
        block->EndRecord();
      }
      for (int64_t i = 0; i < n; ++i) {
        const int64_t x = next - n + i;
        if (static_cast<int64_t>(copies.size()) < capacity) {
          copies.push_back(x);
        } else {
          const size_t j = std::uniform_int_distribution<size_t>(0, copies.size() - 1)(rng);
          want.push_back(copies[j]);
          copies[j] = x;
        }
        const RecordRef drawn = buffer.Add(block, i);
        if (drawn.block != nullptr) check(*drawn.block, drawn.row);
        max_held = std::max(max_held, buffer.held_rows());
      }
    }
    std::shuffle(copies.begin(), copies.end(), rng);
    want.insert(want.end(), copies.begin(), copies.end());
    buffer.Drain(check);
    INFO("capacity " << capacity);
    CHECK(got == want);
    // Twice the capacity, the block being added from and the one before it.
    CHECK(max_held <= 2 * capacity + 2 * 300);
  }
}

TEST_CASE("the shuffle buffer's memory stays within about twice its capacity, the blocks it reads into included") {
  // As a worker reads: blocks of 256 records from the pool (a block the
  // buffer still holds is left to it), 100 capacities' worth of records.
  Schema schema = {{"x", DType::kInt64, {}, ""}};
  constexpr int64_t kCapacity = 2000, kBlock = 256;
  BlockPool pool;
  ShuffleBuffer buffer(kCapacity, &pool);
  buffer.Restart(7);
  std::shared_ptr<RecordBlock> block;
  int64_t next = 0, peak = 0;
  while (next < 100 * kCapacity) {
    if (block == nullptr || block.use_count() > 2) block = pool.Acquire(block.get());
    block->Reset(schema);
    for (int64_t i = 0; i < kBlock; ++i, ++next) {
      std::memcpy(block->Grow(0, sizeof next), &next, sizeof next);
      block->EndRecord();
    }
    for (int64_t i = 0; i < kBlock; ++i) buffer.Add(block, i);
    peak = std::max(peak, pool.bytes());
  }
  // Twice the capacity, the blocks compacted into but not filled, the block
  // read into, the one before it and the one being compacted into, 8 bytes
  // each: at most 2.5 capacities and 3 blocks (before the blocks compacted
  // into were the pool's size, and the pool's grew beyond 11 capacities).
  CHECK(peak <= (5 * kCapacity / 2 + 3 * kBlock) * 8);
}

namespace {

// The bytes of `files` text files of `per_file` bytes each (printable ASCII
// drawn from `seed`), written under dir/sub; returns their concatenation.
std::vector<std::string> WriteTexts(const testing::IdxDir& dir, const std::string& sub, int files, int per_file) {
  std::filesystem::create_directories(dir.path(sub));
  std::vector<std::string> texts;
  uint32_t x = 12345;
  for (int f = 0; f < files; ++f) {
    std::string text;
    for (int i = 0; i < per_file; ++i) {
      x = x * 1103515245u + 12345u;
      text.push_back(static_cast<char>('a' + (x >> 16) % 26));
    }
    dir.WriteText(sub + "/part-" + std::to_string(f) + ".txt", text);
    texts.push_back(text);
  }
  return texts;
}

}  // namespace

TEST_CASE("contiguous text streams: row b of consecutive batches concatenates to one slice of the corpus") {
  testing::IdxDir dir;
  constexpr int64_t kLength = 5, kRows = 3, kWorkers = 2;
  // Two files of 101 bytes: 20 sequences each (the last byte is only a target).
  const std::vector<std::string> files = WriteTexts(dir, "text", 2, 101);
  std::string records;  // every sequence's tokens in reading order
  for (const std::string& f : files) records += f.substr(0, 100);
  const int64_t per_stream = 40 / (kWorkers * kRows);  // 6: 4 sequences are left over
  SourceOptions text;
  text.format = DataFormat::kText;
  text.sequence_length = kLength;
  auto source = DataSource::Open(text, dir.path("text"));
  REQUIRE(source.ok());
  std::set<std::string> all_streams;
  for (int w = 0; w < kWorkers; ++w) {
    PipelineOptions o;
    o.batch_size = kRows;
    o.worker = w;
    o.num_workers = kWorkers;
    o.epochs = 2;
    o.contiguous = true;
    auto p = Pipeline::Start(*source, o);
    REQUIRE(p.ok());
    std::map<int64_t, std::vector<std::string>> rows;  // epoch -> row b's tokens so far
    std::map<int64_t, int64_t> batches;
    for (;;) {
      auto b = (*p)->Next();
      if (!b.ok()) {
        REQUIRE(b.status().code() == Code::kOutOfRange);
        break;
      }
      REQUIRE(b->size == kRows);  // every batch is full
      ++batches[b->epoch];
      std::vector<std::string>& r = rows[b->epoch];
      r.resize(kRows);
      const int32_t* tokens = b->columns.at("tokens").data<int32_t>();
      const int32_t* targets = b->columns.at("targets").data<int32_t>();
      for (int64_t row = 0; row < kRows; ++row)
        for (int64_t t = 0; t < kLength; ++t) {
          r[static_cast<size_t>(row)].push_back(static_cast<char>(tokens[row * kLength + t]));
          if (t > 0) CHECK(targets[row * kLength + t - 1] == tokens[row * kLength + t]);
        }
    }
    REQUIRE(rows.size() == 2);
    CHECK(batches[0] == per_stream);
    CHECK(rows[0] == rows[1]);  // every epoch starts the streams again
    for (int64_t row = 0; row < kRows; ++row) {
      const int64_t stream = w * kRows + row;
      INFO("worker " << w << " row " << row);
      CHECK(rows[0][static_cast<size_t>(row)] ==
            records.substr(static_cast<size_t>(stream * per_stream * kLength), static_cast<size_t>(per_stream * kLength)));
      all_streams.insert(rows[0][static_cast<size_t>(row)]);
    }
  }
  CHECK(all_streams.size() == static_cast<size_t>(kWorkers * kRows));  // no two rows read the same text
}

TEST_CASE("contiguous streams refuse shuffling, and a corpus too small for the streams fails naming the counts") {
  testing::IdxDir dir;
  WriteTexts(dir, "small", 1, 21);  // 4 sequences of 5
  SourceOptions text;
  text.format = DataFormat::kText;
  text.sequence_length = 5;
  auto source = DataSource::Open(text, dir.path("small"));
  REQUIRE(source.ok());
  PipelineOptions o;
  o.batch_size = 3;
  o.contiguous = true;
  o.shuffle_buffer = 10;
  auto shuffled = Pipeline::Start(*source, o);
  REQUIRE_FALSE(shuffled.ok());
  CHECK_THAT(shuffled.status().message(), Catch::Contains("cannot be shuffled"));
  o.shuffle_buffer = 0;
  o.num_workers = 2;
  auto p = Pipeline::Start(*source, o);
  REQUIRE(p.ok());
  auto b = (*p)->Next();
  REQUIRE_FALSE(b.ok());
  CHECK(b.status().code() == Code::kFailedPrecondition);
  CHECK_THAT(b.status().message(), Catch::Contains("the 4 examples of"));
  CHECK_THAT(b.status().message(), Catch::Contains("do not fill 6 streams (2 worker(s) x batch size 3)"));
}

TEST_CASE("each batch says when the input thread worked on it: one after the other, ending before it is taken") {
  testing::IdxDir dir;
  DataSource source = Csv(WriteNumbered(dir, "t", 2, 20));
  PipelineOptions o;
  o.batch_size = 3;  // the last batch of the epoch is partial
  o.epochs = 1;
  auto pipe = Pipeline::Start(source, o);
  REQUIRE(pipe.ok());
  int64_t previous_end = 0;
  int batches = 0;
  for (auto b = (*pipe)->Next(); b.ok(); b = (*pipe)->Next(), ++batches) {
    const int64_t taken = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::steady_clock::now().time_since_epoch()).count();
    CHECK(b->read_start_ns > 0);
    CHECK(b->read_start_ns >= previous_end);  // a single thread: batch after batch
    CHECK(b->read_start_ns <= b->read_end_ns);
    CHECK(b->read_end_ns <= taken);
    previous_end = b->read_end_ns;
  }
  CHECK(batches == 14);  // 40 examples in batches of 3
}

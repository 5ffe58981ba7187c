#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "worker/batch_sources.h"

using namespace flowps;

namespace {

// Numbered batches; fails at `fail_at`; records the thread that read each.
struct Numbered final : BatchSource {
  int32_t next = 0;
  int32_t fail_at = -1;
  std::atomic<int> reads{0};
  std::thread::id reader;
  StatusOr<data::Batch> Next() override {
    reader = std::this_thread::get_id();
    ++reads;
    if (next == fail_at) return Unavailable("the input file went away");
    data::Batch b;
    b.labels = Tensor::FromVector<int32_t>(Shape{1}, {next++});
    return b;
  }
};

int32_t Label(const StatusOr<data::Batch>& b) { return b->labels.data<int32_t>()[0]; }

}  // namespace

TEST_CASE("a prefetching batch source delivers the inner batches in order, read on a thread of its own") {
  auto inner = std::make_unique<Numbered>();
  Numbered* numbered = inner.get();
  PrefetchingBatchSource batches(std::move(inner), 2);
  for (int32_t i = 0; i < 50; ++i) {
    auto b = batches.Next();
    REQUIRE(b.ok());
    CHECK(Label(b) == i);
  }
  CHECK(numbered->reader != std::this_thread::get_id());
}

TEST_CASE("a prefetching batch source reads at most its depth ahead") {
  auto inner = std::make_unique<Numbered>();
  Numbered* numbered = inner.get();
  PrefetchingBatchSource batches(std::move(inner), 3);
  REQUIRE(batches.Next().ok());
  // Give the reader time to fill the queue; it must stop at 3 ahead.
  for (int i = 0; i < 50 && numbered->reads < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(numbered->reads == 4);  // the one taken and 3 queued
}

TEST_CASE("an error of the inner source reaches the Next() that gets to it, and every later one") {
  auto inner = std::make_unique<Numbered>();
  inner->fail_at = 2;
  PrefetchingBatchSource batches(std::move(inner), 2);
  CHECK(Label(batches.Next()) == 0);
  CHECK(Label(batches.Next()) == 1);
  auto failed = batches.Next();
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().message() == "the input file went away");
  CHECK_FALSE(batches.Next().ok());
}

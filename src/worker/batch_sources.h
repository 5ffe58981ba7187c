// BatchSources of a distributed worker: its shard of the training set, read in
// order (IteratorBatchSource), or prepared ahead on a thread of its own
// (PrefetchingBatchSource) so that the next batch is ready when a step starts.
// The streaming input pipeline (src/data) plugs in here as another BatchSource.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "data/batch_iterator.h"
#include "worker/training_loop.h"

namespace flowps {

// Batches from a BatchIterator, on the caller's thread. Not thread-safe.
class IteratorBatchSource final : public BatchSource {
 public:
  explicit IteratorBatchSource(data::BatchIterator batches) : batches_(std::move(batches)) {}
  StatusOr<data::Batch> Next() override { return batches_.Next(); }

 private:
  data::BatchIterator batches_;
};

// Reads `inner` on its own thread into a queue of at most `depth` batches;
// Next() takes the oldest, waiting while the queue is empty. An error from
// `inner` is returned by the Next() that reaches it, and reading stops there.
// Next() is called from one thread at a time; the destructor stops and joins
// the reader (at most one inner Next() long).
class PrefetchingBatchSource final : public BatchSource {
 public:
  // REQUIRES: depth >= 1.
  PrefetchingBatchSource(std::unique_ptr<BatchSource> inner, int depth);
  ~PrefetchingBatchSource() override;
  PrefetchingBatchSource(const PrefetchingBatchSource&) = delete;
  PrefetchingBatchSource& operator=(const PrefetchingBatchSource&) = delete;

  StatusOr<data::Batch> Next() override;

 private:
  void ReadAhead();

  std::unique_ptr<BatchSource> inner_;
  const size_t depth_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<StatusOr<data::Batch>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::thread reader_;                       // last: started once the rest exists
};

}  // namespace flowps

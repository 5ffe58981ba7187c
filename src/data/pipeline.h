// Pipeline: one worker's batches of a DataSource, read, parsed, shuffled and
// batched on a thread of its own, ahead of the training step.
//
// The thread reads the worker's shard (PlanShard) file after file, passes
// the examples through a streaming shuffle buffer and stacks them into
// batches of batch_size, which wait in a queue of at most prefetch_batches;
// when the queue is full the thread sleeps until the step takes one. Memory
// is bounded by the shuffle buffer and the queue, whatever the data's size.
// Every epoch reads the whole shard once and ends with its last, possibly
// partial, batch; with shuffling the file order and the buffer's draws are
// seeded from (seed, epoch) (and the worker, for the buffer), so a run
// repeats. Next() is for one consumer thread; the destructor stops and joins
// the thread.
//
// With `contiguous`, each of a batch's rows is a stream (the "batchify"
// layout of truncated backpropagation through time): the source's records,
// numbered across its files in reading order, are cut into num_workers *
// batch_size streams of L = records / streams consecutive records each;
// worker w reads streams w * batch_size .. (w + 1) * batch_size - 1, and row
// b of its batch k is record k of its stream b. So row b of batch k + 1
// continues, in the data, exactly where row b of batch k ended. An epoch is L
// full batches (the records past the streams' ends are dropped); a worker
// whose streams would be empty fails with FailedPrecondition. The file order
// is fixed (nothing is shuffled); each stream keeps a reader of its own open.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "core/status.h"
#include "data/data_source.h"
#include "data/example.h"

namespace flowps::data {

struct PipelineOptions {
  int64_t batch_size = 64;        // > 0
  int64_t shuffle_buffer = 0;     // examples held for shuffling; 0 or 1: file order
  uint64_t seed = 0;
  int worker = 0;                 // this worker's index, 0 <= worker < num_workers
  int num_workers = 1;
  int64_t epochs = 0;             // 0: epoch after epoch until destroyed
  int64_t prefetch_batches = 4;   // > 0
  bool contiguous = false;        // rows are streams (above); REQUIRES shuffle_buffer <= 1
};

// A streaming shuffle: holds up to `capacity` records and, once full, gives
// back a uniformly drawn one for each one added. Its slots keep their
// storage, so it allocates nothing once each has held a record as large.
// Not thread-safe.
class ShuffleBuffer {
 public:
  explicit ShuffleBuffer(int64_t capacity) : capacity_(static_cast<size_t>(capacity)) {}
  // Empties the buffer (keeping its storage) and seeds its draws.
  void Restart(uint64_t seed);
  // Adds record i of `block`. When the buffer was full: the drawn record,
  // valid until the next call; otherwise nullptr.
  const Example* Add(const RecordBlock& block, int64_t i);
  // Gives back every held record in random order and empties the buffer.
  void Drain(const std::function<void(const Example&)>& sink);

 private:
  size_t capacity_;
  std::mt19937_64 rng_;
  std::vector<Example> slots_;  // the first held_ hold records
  size_t held_ = 0;
  Example drawn_;
};

// Reads the shard `plan` of `source` once, in the file order `order` (indexes
// into source.files()), calling sink(block, i) for each of its records. Stops
// early, OK, when sink returns false.
Status ReadShard(const DataSource& source, const ShardPlan& plan, const std::vector<size_t>& order,
                 const std::function<bool(const RecordBlock&, int64_t)>& sink);

// The examples of worker `worker` of `num_workers` in one epoch: reads (and
// so checks) every record of its shard once.
StatusOr<int64_t> CountShardExamples(const DataSource& source, int worker, int num_workers);
// The examples of the whole source, counted without checking them where the
// format allows (RecordReader::CountRecords): far cheaper than a full read.
StatusOr<int64_t> CountExamples(const DataSource& source);

class Pipeline {
 public:
  // Starts the thread. InvalidArgument for a bad option.
  static StatusOr<std::unique_ptr<Pipeline>> Start(DataSource source, PipelineOptions options);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // The next batch; blocks until one is ready. After the last epoch:
  // OutOfRange. A read error (e.g. "file:line: ...") is returned once the
  // batches before it were taken, and again on every later call.
  StatusOr<ColumnBatch> Next();
  const Schema& schema() const { return source_.schema(); }

 private:
  Pipeline(DataSource source, PipelineOptions options, ShardPlan plan);
  void Run();                       // the thread
  Status RunEpoch(int64_t epoch);
  Status RunStreams(int64_t epoch);  // an epoch of a contiguous pipeline
  bool Push(StatusOr<ColumnBatch> item);  // false when stopping

  ShuffleBuffer buffer_;                      // the thread's

  DataSource source_;
  PipelineOptions options_;
  ShardPlan plan_;
  std::vector<int64_t> file_records_;  // the thread's: contiguous, the records of each file (counted once)
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<StatusOr<ColumnBatch>> queue_;  // guarded by mu_
  bool stop_ = false;                         // guarded by mu_
  bool finished_ = false;                     // guarded by mu_: the thread pushed its last item
  Status final_;                              // guarded by mu_: OutOfRange or the error
  std::thread thread_;
};

}  // namespace flowps::data

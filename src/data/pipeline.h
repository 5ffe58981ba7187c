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

// Record blocks to read into, shared by the reader and a ShuffleBuffer that
// keeps blocks whose records it still holds: Acquire gives a block nobody
// else holds (a used one, its storage kept, when there is one; a new one
// with room for as many bytes per column as `like` holds, so that filling
// it does not grow it step by step). Not thread-safe.
class BlockPool {
 public:
  std::shared_ptr<RecordBlock> Acquire(const RecordBlock* like = nullptr);
  // The storage of its blocks, held or free (values and ends reserved).
  int64_t bytes() const;

 private:
  std::vector<std::shared_ptr<RecordBlock>> blocks_;
};

// A record held where it was read: row `row` of `block`.
struct RecordRef {
  const RecordBlock* block = nullptr;
  int64_t row = 0;
};

// A streaming shuffle: holds up to `capacity` records and, once full, gives
// back a uniformly drawn one for each one added. It holds them by reference,
// in the blocks they were read into (which it keeps alive), and shuffles the
// references: a record is copied once, from its block into the batch.
// Blocks whose records are mostly drawn are compacted (their remaining
// records copied into blocks of the pool of at most kCompactedBlockRecords,
// one block at a time, each dropped once copied) once the blocks held hold
// more than twice `capacity` records, so that its blocks, and the pool's,
// hold about twice `capacity` records (at most 2.5x plus three blocks). The
// draws (a std::mt19937_64 seeded by Restart) are the same as those of a
// buffer of copies. Not thread-safe.
class ShuffleBuffer {
 public:
  ShuffleBuffer(int64_t capacity, BlockPool* pool) : capacity_(static_cast<size_t>(capacity)), pool_(pool) {}
  // Empties the buffer and seeds its draws.
  void Restart(uint64_t seed);
  // Adds record i of `block`. When the buffer was full: the drawn record,
  // valid until the next call; otherwise a RecordRef without a block.
  RecordRef Add(const std::shared_ptr<RecordBlock>& block, int64_t i);
  // Gives back every held record in random order and empties the buffer.
  void Drain(const std::function<void(const RecordBlock&, int64_t)>& sink);
  // The records of the blocks it holds, drawn or not (its memory).
  int64_t held_rows() const { return held_rows_; }

 private:
  struct Held {
    std::shared_ptr<RecordBlock> block;  // null: a free handle
    int64_t live = 0;                    // the slots that refer to it
  };
  struct Slot {
    uint32_t handle;  // into held_blocks_
    uint32_t row;
  };
  static constexpr int64_t kCompactedBlockRecords = 256;

  uint32_t NewHandle(std::shared_ptr<RecordBlock> block);  // held, by no slot yet
  uint32_t Hold(const std::shared_ptr<RecordBlock>& block);  // the block of an Add
  void Release(uint32_t handle);  // one slot fewer refers to it
  void Drop(uint32_t handle);     // no slot refers to it
  std::vector<char> BlocksToCompact() const;  // by handle; all 0: none
  void Compact();

  size_t capacity_;
  BlockPool* pool_;
  std::mt19937_64 rng_;
  std::vector<Slot> slots_;  // the first held_ hold records
  size_t held_ = 0;
  std::vector<Held> held_blocks_;
  std::vector<uint32_t> free_handles_;
  const RecordBlock* last_block_ = nullptr;  // the block of the last Add, and its handle
  uint32_t last_handle_ = 0;
  int64_t held_rows_ = 0;        // the records of the blocks held, drawn or not
  bool release_drawn_ = false;   // the record drawn last call is released on the next
  uint32_t drawn_handle_ = 0;
};

// Reads the shard `plan` of `source` once, in the file order `order` (indexes
// into source.files()), into blocks of `pool`, calling sink(block, i) for each
// of its records. Stops early, OK, when sink returns false.
Status ReadShard(const DataSource& source, const ShardPlan& plan, const std::vector<size_t>& order, BlockPool* pool,
                 const std::function<bool(const std::shared_ptr<RecordBlock>&, int64_t)>& sink);

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
  // Queues `item`, stamped (when a batch) with the thread's work on it from
  // *began_ns to now; then *began_ns = now, the start of the next. False when stopping.
  bool Push(StatusOr<ColumnBatch> item, int64_t* began_ns);
  bool Queue(StatusOr<ColumnBatch> item);  // false when stopping

  BlockPool pool_;                            // the thread's
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

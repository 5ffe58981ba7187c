#include "data/pipeline.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "core/thread_pool.h"

namespace flowps::data {
namespace {

// Reads a source's records one at a time from a given record on, the records
// numbered across the files in reading order (file_records: each file's count).
class RecordCursor {
 public:
  RecordCursor(const DataSource* source, const std::vector<int64_t>* file_records)
      : source_(source), file_records_(file_records) {}

  // Opens the file that holds `record` and reads up to it.
  Status Seek(int64_t record) {
    file_ = 0;
    while (file_ + 1 < file_records_->size() && record >= (*file_records_)[file_]) record -= (*file_records_)[file_++];
    FLOWPS_ASSIGN_OR_RETURN(reader_, source_->OpenFile(file_));
    block_.size = 0;
    next_ = 0;
    while (record > 0) {
      FLOWPS_RETURN_IF_ERROR(Fill());
      const int64_t skip = std::min(record, block_.size - next_);
      next_ += skip;
      record -= skip;
    }
    return Status::OK();
  }

  // The next record: block and index, valid until the next call.
  StatusOr<std::pair<const RecordBlock*, int64_t>> Next() {
    FLOWPS_RETURN_IF_ERROR(Fill());
    return std::pair<const RecordBlock*, int64_t>(&block_, next_++);
  }

 private:
  // Makes next_ a record of block_, reading on (into the next files) as needed.
  Status Fill() {
    while (next_ >= block_.size) {
      FLOWPS_RETURN_IF_ERROR(reader_->NextBlock(&block_));
      next_ = 0;
      if (block_.size > 0) break;
      if (++file_ >= source_->files().size()) return OutOfRange("read past the last record of the source");
      FLOWPS_ASSIGN_OR_RETURN(reader_, source_->OpenFile(file_));
    }
    return Status::OK();
  }

  const DataSource* source_;
  const std::vector<int64_t>* file_records_;
  size_t file_ = 0;
  std::unique_ptr<RecordReader> reader_;
  RecordBlock block_;
  int64_t next_ = 0;  // in block_
};

}  // namespace

std::shared_ptr<RecordBlock> BlockPool::Acquire(const RecordBlock* like) {
  for (const std::shared_ptr<RecordBlock>& b : blocks_)
    if (b.use_count() == 1) return b;
  auto block = std::make_shared<RecordBlock>();
  if (like != nullptr) {
    block->ResetLike(*like);
    for (size_t c = 0; c < like->columns.size(); ++c) {
      block->columns[c].values.reserve(like->columns[c].values.capacity());
      block->columns[c].ends.reserve(like->columns[c].ends.capacity());
    }
  }
  blocks_.push_back(std::move(block));
  return blocks_.back();
}

int64_t BlockPool::bytes() const {
  int64_t n = 0;
  for (const std::shared_ptr<RecordBlock>& b : blocks_)
    for (const RecordBlock::Column& c : b->columns)
      n += static_cast<int64_t>(c.values.capacity() + c.ends.capacity() * sizeof(size_t));
  return n;
}

void ShuffleBuffer::Restart(uint64_t seed) {
  rng_.seed(seed);
  held_ = 0;
  held_blocks_.clear();
  free_handles_.clear();
  last_block_ = nullptr;
  held_rows_ = 0;
  release_drawn_ = false;
}

uint32_t ShuffleBuffer::NewHandle(std::shared_ptr<RecordBlock> block) {
  uint32_t h;
  if (!free_handles_.empty()) {
    h = free_handles_.back();
    free_handles_.pop_back();
  } else {
    h = static_cast<uint32_t>(held_blocks_.size());
    held_blocks_.emplace_back();
  }
  held_rows_ += block->size;
  held_blocks_[h] = {std::move(block), 0};
  return h;
}

uint32_t ShuffleBuffer::Hold(const std::shared_ptr<RecordBlock>& block) {
  if (block.get() == last_block_) return last_handle_;
  last_block_ = block.get();
  last_handle_ = NewHandle(block);
  return last_handle_;
}

void ShuffleBuffer::Release(uint32_t handle) {
  Held& held = held_blocks_[handle];
  if (--held.live > 0) return;
  Drop(handle);
}

void ShuffleBuffer::Drop(uint32_t handle) {
  Held& held = held_blocks_[handle];
  held_rows_ -= held.block->size;
  if (held.block.get() == last_block_) last_block_ = nullptr;
  held = Held{};
  free_handles_.push_back(handle);
}

std::vector<char> ShuffleBuffer::BlocksToCompact() const {
  // The blocks at most half of whose records are still held, or, when
  // those would free too little, every block but the one being added from.
  std::vector<char> move(held_blocks_.size(), 0);
  int64_t freed = 0;
  for (int all = 0; all < 2 && freed * 4 < static_cast<int64_t>(capacity_); ++all) {
    freed = 0;
    for (size_t h = 0; h < held_blocks_.size(); ++h) {
      const Held& b = held_blocks_[h];
      move[h] = b.block != nullptr && b.block.get() != last_block_ && (all == 1 || b.live * 2 <= b.block->size);
      if (move[h]) freed += b.block->size - b.live;
    }
  }
  if (freed == 0) move.assign(move.size(), 0);
  return move;
}

void ShuffleBuffer::Compact() {
  const std::vector<char> move = BlocksToCompact();
  // The slots of each block to move, block after block (a counting sort by
  // handle), so that each block is dropped as soon as its records are copied
  // and the pool can hand its storage to the next copies: compacting needs
  // no more than one block beyond what is held.
  std::vector<uint32_t> first(move.size() + 1, 0);
  for (size_t s = 0; s < held_; ++s)
    if (move[slots_[s].handle]) ++first[slots_[s].handle + 1];
  for (size_t h = 0; h < move.size(); ++h) first[h + 1] += first[h];
  std::vector<uint32_t> by_block(first.back()), next(first.begin(), first.end() - 1);
  for (size_t s = 0; s < held_; ++s)
    if (move[slots_[s].handle]) by_block[next[slots_[s].handle]++] = static_cast<uint32_t>(s);
  std::shared_ptr<RecordBlock> into;
  uint32_t into_handle = 0;
  for (size_t h = 0; h < move.size(); ++h) {
    if (!move[h]) continue;
    const RecordBlock& from = *held_blocks_[h].block;
    for (uint32_t k = first[h]; k < first[h + 1]; ++k) {
      if (into == nullptr || into->size == kCompactedBlockRecords) {
        into = pool_->Acquire(&from);
        into->ResetLike(from);
        into_handle = NewHandle(into);
      }
      Slot& slot = slots_[by_block[k]];
      into->AppendRecord(from, slot.row);
      ++held_rows_;
      ++held_blocks_[into_handle].live;
      slot = {into_handle, static_cast<uint32_t>(into->size - 1)};
    }
    Drop(static_cast<uint32_t>(h));
  }
}

RecordRef ShuffleBuffer::Add(const std::shared_ptr<RecordBlock>& block, int64_t i) {
  if (release_drawn_) {
    Release(drawn_handle_);
    release_drawn_ = false;
  }
  const int64_t adding = block.get() == last_block_ ? 0 : block->size;
  if (held_ > 0 && held_rows_ + adding > 2 * static_cast<int64_t>(capacity_) + block->size) Compact();
  const uint32_t h = Hold(block);
  ++held_blocks_[h].live;
  const Slot slot{h, static_cast<uint32_t>(i)};
  if (held_ < capacity_) {
    if (slots_.size() == held_) slots_.push_back(slot);
    else slots_[held_] = slot;
    ++held_;
    return {};
  }
  const size_t j = std::uniform_int_distribution<size_t>(0, held_ - 1)(rng_);
  const Slot drawn = slots_[j];
  slots_[j] = slot;
  release_drawn_ = true;
  drawn_handle_ = drawn.handle;
  return {held_blocks_[drawn.handle].block.get(), drawn.row};
}

void ShuffleBuffer::Drain(const std::function<void(const RecordBlock&, int64_t)>& sink) {
  std::shuffle(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(held_), rng_);
  for (size_t i = 0; i < held_; ++i) sink(*held_blocks_[slots_[i].handle].block, slots_[i].row);
  Restart(rng_());
}

Status ReadShard(const DataSource& source, const ShardPlan& plan, const std::vector<size_t>& order, BlockPool* pool,
                 const std::function<bool(const std::shared_ptr<RecordBlock>&, int64_t)>& sink) {
  int64_t record = 0;
  std::shared_ptr<RecordBlock> block;
  for (size_t f : order) {
    FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<RecordReader> reader, source.OpenFile(f));
    for (;;) {
      // A block the sink still holds (the pool's reference, ours, and its) is left to it.
      if (block == nullptr || block.use_count() > 2) block = pool->Acquire(block.get());
      // The records before a malformed one are delivered, then its error.
      Status read = reader->NextBlock(block.get());
      for (int64_t i = 0; i < block->size; ++i)
        if (record++ % plan.record_stride == plan.record_offset && !sink(block, i)) return Status::OK();
      FLOWPS_RETURN_IF_ERROR(read);
      if (block->size == 0) break;
    }
  }
  return Status::OK();
}

StatusOr<int64_t> CountShardExamples(const DataSource& source, int worker, int num_workers) {
  FLOWPS_ASSIGN_OR_RETURN(ShardPlan plan, PlanShard(source.files().size(), worker, num_workers));
  int64_t n = 0;
  BlockPool pool;
  FLOWPS_RETURN_IF_ERROR(ReadShard(source, plan, plan.files, &pool, [&](const std::shared_ptr<RecordBlock>&, int64_t) {
    ++n;
    return true;
  }));
  return n;
}

StatusOr<int64_t> CountExamples(const DataSource& source) {
  int64_t n = 0;
  for (size_t f = 0; f < source.files().size(); ++f) {
    FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<RecordReader> reader, source.OpenFile(f));
    FLOWPS_ASSIGN_OR_RETURN(int64_t records, reader->CountRecords());
    n += records;
  }
  return n;
}

namespace {
// The steady clock in ns (ColumnBatch's read times).
int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

StatusOr<std::unique_ptr<Pipeline>> Pipeline::Start(DataSource source, PipelineOptions options) {
  if (options.batch_size <= 0) return InvalidArgument("batch size " + std::to_string(options.batch_size) + " must be positive");
  if (options.prefetch_batches <= 0) return InvalidArgument("prefetch_batches must be positive");
  if (options.shuffle_buffer < 0) return InvalidArgument("shuffle_buffer must not be negative");
  if (options.contiguous && options.shuffle_buffer > 1)
    return InvalidArgument("contiguous streams are read in order: they cannot be shuffled (shuffle_buffer " +
                           std::to_string(options.shuffle_buffer) + ")");
  FLOWPS_ASSIGN_OR_RETURN(ShardPlan plan, PlanShard(source.files().size(), options.worker, options.num_workers));
  std::unique_ptr<Pipeline> p(new Pipeline(std::move(source), options, std::move(plan)));
  p->thread_ = std::thread([raw = p.get()] {
    NameThisThread("input");
    raw->Run();
  });
  return p;
}

Pipeline::Pipeline(DataSource source, PipelineOptions options, ShardPlan plan)
    : source_(std::move(source)), options_(options), plan_(std::move(plan)), buffer_(options.shuffle_buffer, &pool_) {}

Pipeline::~Pipeline() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Pipeline::Push(StatusOr<ColumnBatch> item, int64_t* began_ns) {
  if (item.ok()) {
    item->read_start_ns = *began_ns;
    item->read_end_ns = NowNs();
  }
  const bool queued = Queue(std::move(item));
  *began_ns = NowNs();
  return queued;
}

bool Pipeline::Queue(StatusOr<ColumnBatch> item) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return stop_ || static_cast<int64_t>(queue_.size()) < options_.prefetch_batches; });
  if (stop_) return false;
  queue_.push_back(std::move(item));
  changed_.notify_all();
  return true;
}

Status Pipeline::RunStreams(int64_t epoch) {
  if (file_records_.empty())
    for (size_t f = 0; f < source_.files().size(); ++f) {
      FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<RecordReader> reader, source_.OpenFile(f));
      FLOWPS_ASSIGN_OR_RETURN(int64_t n, reader->CountRecords());
      file_records_.push_back(n);
    }
  const int64_t records = std::accumulate(file_records_.begin(), file_records_.end(), int64_t{0});
  const int64_t rows = options_.batch_size, streams = options_.num_workers * rows, length = records / streams;
  if (length == 0)
    return FailedPrecondition("contiguous streams: the " + std::to_string(records) + " examples of " +
                              source_.files()[0] + (source_.files().size() > 1 ? " and the other files" : "") +
                              " do not fill " + std::to_string(streams) + " streams (" +
                              std::to_string(options_.num_workers) + " worker(s) x batch size " +
                              std::to_string(rows) + ")");
  std::vector<RecordCursor> cursors;  // stream b of this worker
  for (int64_t b = 0; b < rows; ++b) {
    cursors.emplace_back(&source_, &file_records_);
    FLOWPS_RETURN_IF_ERROR(cursors.back().Seek((options_.worker * rows + b) * length));
  }
  BatchBuilder batch(source_.schema(), rows);
  int64_t began_ns = NowNs();
  for (int64_t k = 0; k < length; ++k) {
    for (RecordCursor& stream : cursors) {
      FLOWPS_ASSIGN_OR_RETURN(auto record, stream.Next());
      batch.Add(*record.first, record.second);
    }
    if (!Push(batch.Take(epoch), &began_ns)) break;
  }
  return Status::OK();
}

Status Pipeline::RunEpoch(int64_t epoch) {
  if (options_.contiguous) return RunStreams(epoch);
  const bool shuffle = options_.shuffle_buffer > 1;
  std::vector<size_t> order = plan_.files;
  std::seed_seq file_seed{options_.seed, static_cast<uint64_t>(epoch)};
  if (shuffle) std::shuffle(order.begin(), order.end(), std::mt19937_64(file_seed));
  std::seed_seq buffer_seed{options_.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(options_.worker), uint64_t{1}};
  buffer_.Restart(std::mt19937_64(buffer_seed)());
  // Records go straight into the batch's tensors; a full batch is queued,
  // with the time the thread worked on it (from the queueing of the one before).
  BatchBuilder batch(source_.schema(), options_.batch_size);
  bool stopping = false;
  int64_t examples = 0;
  int64_t began_ns = NowNs();
  auto added = [&] {
    ++examples;
    if (batch.full() && !Push(batch.Take(epoch), &began_ns)) stopping = true;
  };
  Status read = ReadShard(source_, plan_, order, &pool_, [&](const std::shared_ptr<RecordBlock>& block, int64_t i) {
    if (!shuffle) {
      batch.Add(*block, i);
      added();
    } else if (const RecordRef drawn = buffer_.Add(block, i); drawn.block != nullptr) {
      batch.Add(*drawn.block, drawn.row);
      added();
    }
    return !stopping;
  });
  FLOWPS_RETURN_IF_ERROR(read);
  if (!stopping)
    buffer_.Drain([&](const RecordBlock& block, int64_t i) {
      if (stopping) return;
      batch.Add(block, i);
      added();
    });
  if (!stopping && examples == 0)
    return FailedPrecondition("worker " + std::to_string(options_.worker) + " of " +
                              std::to_string(options_.num_workers) + " has no examples in " + source_.files()[0] +
                              (source_.files().size() > 1 ? " and the other files" : ""));
  if (!stopping && batch.size() > 0) Push(batch.Take(epoch), &began_ns);
  return Status::OK();
}

void Pipeline::Run() {
  Status end = OutOfRange("the data ended after " + std::to_string(options_.epochs) + " epochs");
  for (int64_t epoch = 0; options_.epochs == 0 || epoch < options_.epochs; ++epoch) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    Status s = RunEpoch(epoch);
    if (!s.ok()) {
      end = s;
      break;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  final_ = end;
  finished_ = true;
  changed_.notify_all();
}

StatusOr<ColumnBatch> Pipeline::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return !queue_.empty() || finished_; });
  if (queue_.empty()) return final_;
  StatusOr<ColumnBatch> item = std::move(queue_.front());
  queue_.pop_front();
  changed_.notify_all();
  return item;
}

}  // namespace flowps::data

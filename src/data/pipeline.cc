#include "data/pipeline.h"

#include <algorithm>
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

void ShuffleBuffer::Restart(uint64_t seed) {
  rng_.seed(seed);
  held_ = 0;
}

const Example* ShuffleBuffer::Add(const RecordBlock& block, int64_t i) {
  if (held_ < capacity_) {
    if (slots_.size() == held_) slots_.emplace_back();
    slots_[held_++].Assign(block, i);
    return nullptr;
  }
  const size_t j = std::uniform_int_distribution<size_t>(0, held_ - 1)(rng_);
  std::swap(drawn_, slots_[j]);
  slots_[j].Assign(block, i);
  return &drawn_;
}

void ShuffleBuffer::Drain(const std::function<void(const Example&)>& sink) {
  std::shuffle(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(held_), rng_);
  for (size_t i = 0; i < held_; ++i) sink(slots_[i]);
  held_ = 0;
}

Status ReadShard(const DataSource& source, const ShardPlan& plan, const std::vector<size_t>& order,
                 const std::function<bool(const RecordBlock&, int64_t)>& sink) {
  int64_t record = 0;
  RecordBlock block;
  for (size_t f : order) {
    FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<RecordReader> reader, source.OpenFile(f));
    for (;;) {
      // The records before a malformed one are delivered, then its error.
      Status read = reader->NextBlock(&block);
      for (int64_t i = 0; i < block.size; ++i)
        if (record++ % plan.record_stride == plan.record_offset && !sink(block, i)) return Status::OK();
      FLOWPS_RETURN_IF_ERROR(read);
      if (block.size == 0) break;
    }
  }
  return Status::OK();
}

StatusOr<int64_t> CountShardExamples(const DataSource& source, int worker, int num_workers) {
  FLOWPS_ASSIGN_OR_RETURN(ShardPlan plan, PlanShard(source.files().size(), worker, num_workers));
  int64_t n = 0;
  FLOWPS_RETURN_IF_ERROR(ReadShard(source, plan, plan.files, [&](const RecordBlock&, int64_t) {
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
    : source_(std::move(source)), options_(options), plan_(std::move(plan)), buffer_(options.shuffle_buffer) {}

Pipeline::~Pipeline() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Pipeline::Push(StatusOr<ColumnBatch> item) {
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
  for (int64_t k = 0; k < length; ++k) {
    for (RecordCursor& stream : cursors) {
      FLOWPS_ASSIGN_OR_RETURN(auto record, stream.Next());
      batch.Add(*record.first, record.second);
    }
    if (!Push(batch.Take(epoch))) break;
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
  // Records go straight into the batch's tensors; a full batch is queued.
  BatchBuilder batch(source_.schema(), options_.batch_size);
  bool stopping = false;
  int64_t examples = 0;
  auto added = [&] {
    ++examples;
    if (batch.full() && !Push(batch.Take(epoch))) stopping = true;
  };
  Status read = ReadShard(source_, plan_, order, [&](const RecordBlock& block, int64_t i) {
    if (!shuffle) {
      batch.Add(block, i);
      added();
    } else if (const Example* drawn = buffer_.Add(block, i)) {
      batch.Add(*drawn);
      added();
    }
    return !stopping;
  });
  FLOWPS_RETURN_IF_ERROR(read);
  if (!stopping)
    buffer_.Drain([&](const Example& e) {
      if (stopping) return;
      batch.Add(e);
      added();
    });
  if (!stopping && examples == 0)
    return FailedPrecondition("worker " + std::to_string(options_.worker) + " of " +
                              std::to_string(options_.num_workers) + " has no examples in " + source_.files()[0] +
                              (source_.files().size() > 1 ? " and the other files" : ""));
  if (!stopping && batch.size() > 0) Push(batch.Take(epoch));
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

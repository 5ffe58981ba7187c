#include "data/pipeline.h"

#include <algorithm>
#include <numeric>

namespace flowps::data {

bool ShuffleBuffer::Add(Example&& e, Example* out) {
  if (held_.size() < capacity_) {
    held_.push_back(std::move(e));
    return false;
  }
  const size_t j = std::uniform_int_distribution<size_t>(0, held_.size() - 1)(rng_);
  *out = std::move(held_[j]);
  held_[j] = std::move(e);
  return true;
}

void ShuffleBuffer::Drain(const std::function<void(Example&&)>& sink) {
  std::shuffle(held_.begin(), held_.end(), rng_);
  for (Example& e : held_) sink(std::move(e));
  held_.clear();
}

Status ReadShard(const DataSource& source, const ShardPlan& plan, const std::vector<size_t>& order,
                 const std::function<bool(Example&&)>& sink) {
  int64_t record = 0;
  for (size_t f : order) {
    FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<RecordReader> reader, source.OpenFile(f));
    for (;;) {
      Example e;
      FLOWPS_ASSIGN_OR_RETURN(bool more, reader->Next(&e));
      if (!more) break;
      if (record++ % plan.record_stride != plan.record_offset) continue;
      if (!sink(std::move(e))) return Status::OK();
    }
  }
  return Status::OK();
}

StatusOr<int64_t> CountShardExamples(const DataSource& source, int worker, int num_workers) {
  FLOWPS_ASSIGN_OR_RETURN(ShardPlan plan, PlanShard(source.files().size(), worker, num_workers));
  int64_t n = 0;
  FLOWPS_RETURN_IF_ERROR(ReadShard(source, plan, plan.files, [&](Example&&) {
    ++n;
    return true;
  }));
  return n;
}

StatusOr<std::unique_ptr<Pipeline>> Pipeline::Start(DataSource source, PipelineOptions options) {
  if (options.batch_size <= 0) return InvalidArgument("batch size " + std::to_string(options.batch_size) + " must be positive");
  if (options.prefetch_batches <= 0) return InvalidArgument("prefetch_batches must be positive");
  if (options.shuffle_buffer < 0) return InvalidArgument("shuffle_buffer must not be negative");
  FLOWPS_ASSIGN_OR_RETURN(ShardPlan plan, PlanShard(source.files().size(), options.worker, options.num_workers));
  std::unique_ptr<Pipeline> p(new Pipeline(std::move(source), options, std::move(plan)));
  p->thread_ = std::thread([raw = p.get()] { raw->Run(); });
  return p;
}

Pipeline::Pipeline(DataSource source, PipelineOptions options, ShardPlan plan)
    : source_(std::move(source)), options_(options), plan_(std::move(plan)) {}

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

Status Pipeline::RunEpoch(int64_t epoch) {
  const bool shuffle = options_.shuffle_buffer > 1;
  std::vector<size_t> order = plan_.files;
  std::seed_seq file_seed{options_.seed, static_cast<uint64_t>(epoch)};
  if (shuffle) std::shuffle(order.begin(), order.end(), std::mt19937_64(file_seed));
  std::seed_seq buffer_seed{options_.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(options_.worker), uint64_t{1}};
  ShuffleBuffer buffer(options_.shuffle_buffer, std::mt19937_64(buffer_seed)());
  std::vector<Example> pending;
  pending.reserve(static_cast<size_t>(options_.batch_size));
  bool stopping = false;
  int64_t examples = 0;
  auto emit = [&](Example&& e) {
    ++examples;
    pending.push_back(std::move(e));
    if (static_cast<int64_t>(pending.size()) < options_.batch_size) return;
    if (!Push(MakeBatch(source_.schema(), pending, epoch))) stopping = true;
    pending.clear();
  };
  Status read = ReadShard(source_, plan_, order, [&](Example&& e) {
    if (!shuffle) {
      emit(std::move(e));
    } else {
      Example out;
      if (buffer.Add(std::move(e), &out)) emit(std::move(out));
    }
    return !stopping;
  });
  FLOWPS_RETURN_IF_ERROR(read);
  if (!stopping) buffer.Drain(emit);
  if (!stopping && examples == 0)
    return FailedPrecondition("worker " + std::to_string(options_.worker) + " of " +
                              std::to_string(options_.num_workers) + " has no examples in " + source_.files()[0] +
                              (source_.files().size() > 1 ? " and the other files" : ""));
  if (!stopping && !pending.empty()) Push(MakeBatch(source_.schema(), pending, epoch));
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

#include "worker/batch_sources.h"

namespace flowps {

PrefetchingBatchSource::PrefetchingBatchSource(std::unique_ptr<BatchSource> inner, int depth)
    : inner_(std::move(inner)), depth_(static_cast<size_t>(depth < 1 ? 1 : depth)), reader_([this]() { ReadAhead(); }) {}

PrefetchingBatchSource::~PrefetchingBatchSource() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  reader_.join();
}

void PrefetchingBatchSource::ReadAhead() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait(lock, [this]() { return stopping_ || queue_.size() < depth_; });
      if (stopping_) return;
    }
    StatusOr<data::Batch> batch = inner_->Next();  // outside the lock
    const bool failed = !batch.ok();
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(batch));
    }
    changed_.notify_all();
    if (failed) return;
  }
}

StatusOr<data::Batch> PrefetchingBatchSource::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [this]() { return !queue_.empty(); });
  if (!queue_.front().ok()) return queue_.front().status();  // an error stays: every later Next() returns it
  StatusOr<data::Batch> batch = std::move(queue_.front());
  queue_.pop_front();
  lock.unlock();
  changed_.notify_all();
  return batch;
}

}  // namespace flowps

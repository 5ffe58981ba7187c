#include "ps/sync_aggregator.h"

#include <Eigen/Core>
#include <spdlog/spdlog.h>

namespace flowps::ps {
namespace {

using Array = Eigen::Map<Eigen::ArrayXf>;
using ConstArray = Eigen::Map<const Eigen::ArrayXf>;

// Concatenates rank-1 int index tensors into int64 and float rows along dim 0.
std::pair<Tensor, Tensor> Concat(const std::vector<std::pair<Tensor, Tensor>>& parts, float scale) {
  int64_t n = 0;
  for (const auto& [idx, rows] : parts) n += idx.num_elements();
  std::vector<int64_t> dims = parts.front().second.shape().dims();
  dims[0] = n;
  Tensor indices(DType::kInt64, Shape{n});
  Tensor rows(DType::kFloat32, Shape(dims));
  int64_t at = 0;
  float* out = rows.data<float>();
  for (const auto& [idx, r] : parts) {
    for (int64_t i = 0; i < idx.num_elements(); ++i)
      indices.data<int64_t>()[at + i] =
          idx.dtype() == DType::kInt32 ? idx.data<int32_t>()[i] : idx.data<int64_t>()[i];
    at += idx.num_elements();
    Array(out, r.num_elements()) = scale * ConstArray(r.data<float>(), r.num_elements());
    out += r.num_elements();
  }
  return {indices, rows};
}

}  // namespace

const char* PushOutcomeName(PushOutcome outcome) {
  switch (outcome) {
    case PushOutcome::kAccepted: return "accepted";
    case PushOutcome::kApplied: return "applied";
    case PushOutcome::kDuplicate: return "duplicate";
    case PushOutcome::kStale: return "stale";
  }
  return "unknown";
}

Status SyncConfig::Validate() const {
  if (replicas_to_aggregate < 1)
    return InvalidArgument("replicas_to_aggregate must be >= 1, got " + std::to_string(replicas_to_aggregate));
  if (total_workers < replicas_to_aggregate)
    return InvalidArgument("total_workers (" + std::to_string(total_workers) +
                           ") must be >= replicas_to_aggregate (" + std::to_string(replicas_to_aggregate) + ")");
  return Status::OK();
}

SyncAggregator::SyncAggregator(SyncConfig config, VariableStore* store, std::shared_ptr<spdlog::logger> log)
    : config_(config), store_(store), log_(std::move(log)) {}

void SyncAggregator::Push(PushRequest request, PushDone done) {
  // The scan of the values runs outside mu_, so pushes validate in parallel.
  const Status valid = store_->Validate(request.grads);
  StatusOr<PushResult> result = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return Offer(request, valid);
  }();
  if (result.ok() && result->outcome == PushOutcome::kApplied) clock_.Advance(result->global_step);
  done(std::move(result));
}

StatusOr<PushResult> SyncAggregator::Offer(PushRequest& request, const Status& valid) {
  const int32_t w = request.worker;
  const int64_t s = request.step;
  if (w < 0 || w >= config_.total_workers) {
    ++stats_.refused;
    return InvalidArgument("push from worker " + std::to_string(w) + ": worker ids are 0.." +
                           std::to_string(config_.total_workers - 1));
  }
  auto last = last_counted_.find(w);
  if (last != last_counted_.end() && s <= last->second) {
    ++stats_.duplicates;
    log_->debug("push of worker {} for step {} was counted before; ignored", w, s);
    return PushResult{PushOutcome::kDuplicate, step_};
  }
  if (s < step_) {
    ++stats_.stale_dropped;
    log_->info("dropped the gradient of worker {} for step {}: the global step is {} (stale, {} dropped so far)",
               w, s, step_, stats_.stale_dropped);
    return PushResult{PushOutcome::kStale, step_};
  }
  if (s > step_) {
    ++stats_.refused;
    return FailedPrecondition("push from worker " + std::to_string(w) + " is tagged step " + std::to_string(s) +
                              ", ahead of this shard's global step " + std::to_string(step_));
  }
  if (!valid.ok()) {
    ++stats_.refused;
    log_->warn("refused the push of worker {} for step {}: {}", w, s, valid.ToString());
    return valid;
  }
  Accumulate(request.grads);
  last_counted_[w] = s;
  ++stats_.accepted;
  if (++count_ < config_.replicas_to_aggregate) return PushResult{PushOutcome::kAccepted, step_};

  std::vector<Gradient> average = Average();
  dense_sum_.clear();
  sparse_.clear();
  count_ = 0;
  if (Status st = store_->Apply(average, step_ + 1); !st.ok()) {
    // Every push was validated when counted, so this is our own bug.
    log_->error("applying step {} failed: {}", step_, st.ToString());
    return Internal("applying step " + std::to_string(step_) + ": " + st.ToString());
  }
  ++step_;
  ++stats_.applied_updates;
  log_->debug("applied step {} from {} gradients", step_ - 1, config_.replicas_to_aggregate);
  return PushResult{PushOutcome::kApplied, step_};
}

void SyncAggregator::Accumulate(std::vector<Gradient>& grads) {
  for (Gradient& g : grads) {
    if (g.sparse()) {  // copied: a pushed tensor may point into an RPC message that ends with the call
      sparse_[g.variable].emplace_back(g.indices.Clone(), g.values.Clone());
      continue;
    }
    auto it = dense_sum_.find(g.variable);
    if (it == dense_sum_.end()) {
      dense_sum_.emplace(g.variable, g.values.Clone());
    } else {
      const int64_t n = g.values.num_elements();
      Array(it->second.data<float>(), n) += ConstArray(g.values.data<float>(), n);
    }
  }
}

std::vector<Gradient> SyncAggregator::Average() const {
  const float scale = 1.0f / static_cast<float>(config_.replicas_to_aggregate);
  std::vector<Gradient> out;
  for (const auto& [name, sum] : dense_sum_) {
    Array(sum.data<float>(), sum.num_elements()) *= scale;
    out.push_back(Gradient{name, sum, Tensor()});
  }
  for (const auto& [name, parts] : sparse_) {
    auto [indices, rows] = Concat(parts, scale);
    out.push_back(Gradient{name, rows, indices});
  }
  return out;
}

void SyncAggregator::WaitForStep(int64_t step, std::function<void(int64_t)> done) {
  clock_.WaitFor(step, std::move(done));
}

PushStats SyncAggregator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

ShardSnapshot SyncAggregator::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ShardSnapshot{step_, store_->Snapshot()};
}

Status SyncAggregator::Restore(ShardSnapshot snapshot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    FLOWPS_RETURN_IF_ERROR(store_->Restore(std::move(snapshot.variables)));
    step_ = snapshot.global_step;
    count_ = 0;
    dense_sum_.clear();
    sparse_.clear();
    last_counted_.clear();
  }
  clock_.Reset(snapshot.global_step);
  return Status::OK();
}

}  // namespace flowps::ps

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

Status SyncConfig::Validate() const {
  if (replicas_to_aggregate < 1)
    return InvalidArgument("replicas_to_aggregate must be >= 1, got " + std::to_string(replicas_to_aggregate));
  if (total_workers < replicas_to_aggregate)
    return InvalidArgument("total_workers (" + std::to_string(total_workers) +
                           ") must be >= replicas_to_aggregate (" + std::to_string(replicas_to_aggregate) + ")");
  return Status::OK();
}

SyncAggregator::SyncAggregator(SyncConfig config, VariableStore* store, std::shared_ptr<spdlog::logger> log)
    : LockedUpdateRule(config.total_workers, store, std::move(log)), config_(config) {}

void SyncAggregator::Push(PushRequest request, PushDone done) {
  // The scan of the values runs outside mu_, so pushes validate in parallel.
  const Status valid = store_->Validate(request.grads);
  std::optional<CompletedStep> completed;
  StatusOr<PushResult> result = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return Offer(request, valid, &completed);
  }();
  if (completed) result = ApplyStep(std::move(*completed));
  done(std::move(result));
}

StatusOr<PushResult> SyncAggregator::Offer(PushRequest& request, const Status& valid,
                                           std::optional<CompletedStep>* completed) {
  const int32_t w = request.worker;
  const int64_t s = request.step;
  if (Status st = CheckWorker(w); !st.ok()) {
    ++stats_.refused;
    return st;
  }
  auto last = last_counted_.find(w);
  if (last != last_counted_.end() && s <= last->second) {
    ++stats_.duplicates;
    log_->debug("push of worker {} for step {} was counted before; ignored", w, s);
    return PushResult{PushOutcome::kDuplicate, step_};
  }
  if (s < open_step_) {
    ++stats_.stale_dropped;
    log_->info("dropped the gradient of worker {} for step {}: the global step is {} (stale, {} dropped so far)",
               w, s, open_step_, stats_.stale_dropped);
    return PushResult{PushOutcome::kStale, step_};
  }
  if (s > open_step_) {
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
  counted_.push_back(w);
  ++stats_.accepted;
  if (++count_ < config_.replicas_to_aggregate) return PushResult{PushOutcome::kAccepted, step_};

  // The step is complete: take its sums; pushes now count towards the next one.
  *completed = CompletedStep{open_step_, std::move(dense_sum_), std::move(sparse_), std::move(counted_)};
  dense_sum_.clear();
  sparse_.clear();
  counted_.clear();
  count_ = 0;
  ++open_step_;
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
      // N = 1: this push is the step, applied before the call returns, so its
      // tensor is used in place; otherwise the sum outlives the call: a copy.
      dense_sum_.emplace(g.variable, config_.replicas_to_aggregate == 1 ? g.values : g.values.Clone());
    } else {
      const int64_t n = g.values.num_elements();
      Array(it->second.data<float>(), n) += ConstArray(g.values.data<float>(), n);
    }
  }
}

namespace {

// Scales `sum` by `scale` in place; false if a value is not finite after it.
bool ScaleFinite(Tensor& sum, float scale) {
  float* p = sum.data<float>();
  const int64_t n = sum.num_elements();
  bool finite = true;
  for (int64_t i = 0; i < n; ++i) {
    p[i] *= scale;
    finite &= (p[i] - p[i]) == 0.0f;  // false for NaN and Inf; vectorises
  }
  return finite;
}

}  // namespace

StatusOr<PushResult> SyncAggregator::ApplyStep(CompletedStep done) {
  const float scale = 1.0f / static_cast<float>(config_.replicas_to_aggregate);
  std::vector<Gradient> average;
  Status applied = Status::OK();
  for (auto& [name, sum] : done.dense_sum) {
    // N = 1: the one push was scanned when counted and is not scaled (it may
    // point into the request, which is read-only).
    if (config_.replicas_to_aggregate > 1 && !ScaleFinite(sum, scale) && applied.ok())
      applied = InvalidArgument("the average gradient of '" + name + "' is not finite (the sum overflowed)");
    average.push_back(Gradient{name, sum, Tensor()});
  }
  for (const auto& [name, parts] : done.sparse) {
    auto [indices, rows] = Concat(parts, scale);
    if (!AllFinite(rows) && applied.ok())
      applied = InvalidArgument("the average gradient of '" + name + "' is not finite (the sum overflowed)");
    average.push_back(Gradient{name, rows, indices});
  }
  {
    std::shared_lock<std::shared_mutex> apply_lock(apply_mu_);
    // Every push was validated when it was counted: the values are not scanned again.
    if (applied.ok()) applied = store_->ApplyValidated(average, done.step + 1);
    std::lock_guard<std::mutex> lock(mu_);
    if (applied.ok()) {
      step_ = done.step + 1;
      ++stats_.applied_updates;
    } else {
      // Drop the step: it is open again, and its workers may push it again.
      ++stats_.failed_steps;
      open_step_ = done.step;
      for (int32_t w : done.workers) last_counted_[w] = done.step - 1;
    }
  }
  if (applied.ok()) {
    log_->debug("applied step {} from {} gradients", done.step, config_.replicas_to_aggregate);
    clock_.Advance(done.step + 1);
    return PushResult{PushOutcome::kApplied, done.step + 1};
  }
  const Status why = Aborted("step " + std::to_string(done.step) + " was dropped, nothing applied: " +
                             applied.ToString() + "; push it again");
  log_->error("{}", why.ToString());
  clock_.Fail(done.step + 1, why);
  return why;
}

std::vector<UpdateRule::PushDone> SyncAggregator::ForgetPending(int64_t step) {
  open_step_ = step;
  count_ = 0;
  counted_.clear();
  dense_sum_.clear();
  sparse_.clear();
  last_counted_.clear();
  return {};
}

}  // namespace flowps::ps

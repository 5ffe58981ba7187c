#include "kernels/optimizers.h"

#include <algorithm>
#include <cmath>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <Eigen/Core>

#include "core/thread_pool.h"

namespace flowps::kernels {
namespace {

using Array = Eigen::Map<Eigen::ArrayXf>;
using ConstArray = Eigen::Map<const Eigen::ArrayXf>;

// Below this many elements a dense update runs on the calling thread.
constexpr int64_t kParallelChunk = 1 << 20;

// Runs fn(0..chunks-1): the caller claims chunks itself and pool threads help.
// The caller never waits for a chunk that nobody has started, so this cannot
// deadlock even when every pool thread is itself inside RunChunks.
void RunChunks(ThreadPool* pool, int64_t chunks, const std::function<void(int64_t)>& fn) {
  struct Job {
    std::atomic<int64_t> next{0};
    int64_t chunks = 0;
    int64_t finished = 0;  // guarded by mu
    std::mutex mu;
    std::condition_variable cv;
    const std::function<void(int64_t)>* fn = nullptr;  // valid until finished == chunks
  };
  auto job = std::make_shared<Job>();
  job->chunks = chunks;
  job->fn = &fn;
  auto work = [job] {
    for (int64_t c; (c = job->next.fetch_add(1)) < job->chunks;) {
      (*job->fn)(c);
      std::lock_guard<std::mutex> lock(job->mu);
      if (++job->finished == job->chunks) job->cv.notify_all();
    }
  };
  for (int64_t i = 1; i < chunks; ++i) pool->Schedule(work);
  work();
  std::unique_lock<std::mutex> lock(job->mu);
  job->cv.wait(lock, [&] { return job->finished == job->chunks; });
}

}  // namespace

std::vector<std::string> Optimizer::SlotNames() const {
  switch (config_.kind) {
    case OptimizerKind::kSgd: return {};
    case OptimizerKind::kMomentum:
    case OptimizerKind::kAdagrad: return {"accumulator"};
    case OptimizerKind::kAdam: return {"m", "v"};
    case OptimizerKind::kFtrl: return {"accumulator", "linear"};
  }
  return {};
}

float Optimizer::SlotInitialValue(size_t i) const {
  const bool accumulator = (config_.kind == OptimizerKind::kAdagrad || config_.kind == OptimizerKind::kFtrl) && i == 0;
  return accumulator ? static_cast<float>(config_.initial_accumulator) : 0.0f;
}

std::vector<Tensor> Optimizer::MakeSlots(const Shape& shape) const {
  std::vector<Tensor> slots;
  for (size_t i = 0; i < SlotNames().size(); ++i) {
    Tensor t = Tensor::Zeros(DType::kFloat32, shape);
    if (SlotInitialValue(i) != 0.0f) Array(t.data<float>(), t.num_elements()).setConstant(SlotInitialValue(i));
    slots.push_back(std::move(t));
  }
  return slots;
}

Status Optimizer::CheckVarAndSlots(const Tensor& var, const std::vector<Tensor>& slots) const {
  if (!var.valid() || var.dtype() != DType::kFloat32)
    return InvalidArgument("optimizer: variable must be float32");
  if (slots.size() != SlotNames().size())
    return InvalidArgument("optimizer " + std::string(OptimizerKindName(config_.kind)) + ": expected " +
                           std::to_string(SlotNames().size()) + " slots, got " +
                           std::to_string(slots.size()));
  for (size_t i = 0; i < slots.size(); ++i)
    FLOWPS_RETURN_IF_ERROR(slots[i].Check(DType::kFloat32, var.shape(), "slot " + SlotNames()[i]));
  return Status::OK();
}

void Optimizer::ApplyRange(float* var_p, float* const* slot_p, const float* grad_p, int64_t n,
                           int64_t step) const {
  Array var(var_p, n);
  ConstArray g(grad_p, n);
  const float lr = static_cast<float>(config_.learning_rate);
  switch (config_.kind) {
    case OptimizerKind::kSgd:
      var -= lr * g;
      break;
    case OptimizerKind::kMomentum: {
      Array acc(slot_p[0], n);
      const float mu = static_cast<float>(config_.momentum);
      acc = mu * acc + g;
      if (config_.nesterov)
        var -= lr * (g + mu * acc);
      else
        var -= lr * acc;
      break;
    }
    case OptimizerKind::kAdagrad: {
      Array acc(slot_p[0], n);
      const float eps = static_cast<float>(config_.epsilon);
      acc += g.square();
      var -= lr * g / (acc.sqrt() + eps);
      break;
    }
    case OptimizerKind::kAdam: {
      Array m(slot_p[0], n);
      Array v(slot_p[1], n);
      const double t = static_cast<double>(std::max<int64_t>(step, 1));
      const float lr_t = static_cast<float>(config_.learning_rate *
                                            std::sqrt(1 - std::pow(config_.beta2, t)) /
                                            (1 - std::pow(config_.beta1, t)));
      const float b1 = static_cast<float>(config_.beta1);
      const float b2 = static_cast<float>(config_.beta2);
      const float eps = static_cast<float>(config_.epsilon);
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g.square();
      var -= lr_t * m / (v.sqrt() + eps);
      break;
    }
    case OptimizerKind::kFtrl: {
      Array n_acc(slot_p[0], n);
      Array z(slot_p[1], n);
      const float l1 = static_cast<float>(config_.l1);
      const float l2 = static_cast<float>(config_.l2);
      Eigen::ArrayXf n_new = n_acc + g.square();
      z += g - (n_new.sqrt() - n_acc.sqrt()) / lr * var;
      n_acc = n_new;
      var = (z.abs() <= l1).select(0.0f, (z.sign() * l1 - z) / (n_acc.sqrt() / lr + 2 * l2));
      break;
    }
  }
}

Status Optimizer::ApplyDense(Tensor& var, std::vector<Tensor>& slots, const Tensor& grad,
                             int64_t step, ThreadPool* pool) const {
  FLOWPS_RETURN_IF_ERROR(CheckVarAndSlots(var, slots));
  FLOWPS_RETURN_IF_ERROR(grad.Check(DType::kFloat32, var.shape(), "gradient"));
  const int64_t n = var.num_elements();
  std::vector<float*> slot_p;
  for (Tensor& s : slots) slot_p.push_back(s.data<float>());

  auto apply_chunk = [&](int64_t begin, int64_t end) {
    std::vector<float*> sp(slot_p);
    for (float*& p : sp) p += begin;
    ApplyRange(var.data<float>() + begin, sp.data(), grad.data<float>() + begin, end - begin, step);
  };
  const int64_t chunks = pool == nullptr ? 1 : std::min<int64_t>(pool->num_threads(), n / kParallelChunk);
  if (chunks <= 1) {
    apply_chunk(0, n);
    return Status::OK();
  }
  // Chunk boundaries on 16-element multiples keep every chunk vector-aligned.
  const int64_t per = (n / chunks + 15) / 16 * 16;
  RunChunks(pool, chunks, [&](int64_t c) {
    const int64_t begin = std::min(n, c * per);
    const int64_t end = c + 1 == chunks ? n : std::min(n, (c + 1) * per);
    apply_chunk(begin, end);
  });
  return Status::OK();
}

StatusOr<std::vector<int64_t>> ReadRowIndices(const Tensor& indices, int64_t limit,
                                              const std::string& what) {
  if (!indices.valid() || indices.shape().rank() != 1 ||
      (indices.dtype() != DType::kInt32 && indices.dtype() != DType::kInt64))
    return InvalidArgument(what + ": indices must be a rank-1 int32 or int64 tensor");
  std::vector<int64_t> out(static_cast<size_t>(indices.num_elements()));
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = indices.dtype() == DType::kInt32 ? indices.data<int32_t>()[i] : indices.data<int64_t>()[i];
    if (out[i] < 0 || out[i] >= limit)
      return InvalidArgument(what + ": index " + std::to_string(out[i]) + " at position " +
                             std::to_string(i) + " is outside [0, " + std::to_string(limit) + ")");
  }
  return out;
}

Status Optimizer::ApplySparse(Tensor& var, std::vector<Tensor>& slots, const Tensor& indices,
                              const Tensor& rows, int64_t step) const {
  FLOWPS_RETURN_IF_ERROR(CheckVarAndSlots(var, slots));
  if (var.shape().rank() < 1) return InvalidArgument("sparse update of a scalar variable");
  FLOWPS_ASSIGN_OR_RETURN(std::vector<int64_t> idx,
                          ReadRowIndices(indices, var.shape().dim(0), "sparse gradient"));
  std::vector<int64_t> row_dims = var.shape().dims();
  row_dims[0] = static_cast<int64_t>(idx.size());
  FLOWPS_RETURN_IF_ERROR(rows.Check(DType::kFloat32, Shape(row_dims), "sparse gradient rows"));
  const int64_t row_len = var.shape().dim(0) == 0 ? 0 : var.num_elements() / var.shape().dim(0);

  // Sum the rows of duplicate indices, keeping first-appearance order.
  std::unordered_map<int64_t, size_t> position;
  std::vector<int64_t> unique;
  for (int64_t i : idx)
    if (position.emplace(i, unique.size()).second) unique.push_back(i);
  const float* grad = rows.data<float>();
  std::vector<float> summed;
  if (unique.size() != idx.size()) {
    summed.assign(unique.size() * row_len, 0.0f);
    for (size_t k = 0; k < idx.size(); ++k)
      Array(summed.data() + position[idx[k]] * row_len, row_len) += ConstArray(grad + k * row_len, row_len);
    grad = summed.data();
  }

  std::vector<float*> sp(slots.size());
  for (size_t u = 0; u < unique.size(); ++u) {
    const int64_t offset = unique[u] * row_len;
    for (size_t s = 0; s < slots.size(); ++s) sp[s] = slots[s].data<float>() + offset;
    ApplyRange(var.data<float>() + offset, sp.data(), grad + u * row_len, row_len, step);
  }
  return Status::OK();
}

}  // namespace flowps::kernels

#include "worker/local_model.h"

#include <Eigen/Core>

#include <cmath>
#include <condition_variable>
#include <mutex>

#include "graph/gradients.h"

namespace flowps {

kernels::OptimizerConfig ToOptimizerConfig(const OptimizerSpec& s) {
  kernels::OptimizerConfig c;
  switch (s.kind) {
    case OptimizerKind::kSgd: c.kind = kernels::OptimizerKind::kSgd; break;
    case OptimizerKind::kMomentum: c.kind = kernels::OptimizerKind::kMomentum; break;
    case OptimizerKind::kAdagrad: c.kind = kernels::OptimizerKind::kAdagrad; break;
    case OptimizerKind::kAdam: c.kind = kernels::OptimizerKind::kAdam; break;
  }
  c.learning_rate = s.learning_rate;
  c.momentum = s.momentum;
  c.nesterov = s.nesterov;
  c.beta1 = s.beta1;
  c.beta2 = s.beta2;
  c.epsilon = s.epsilon;
  c.initial_accumulator = s.initial_accumulator;
  return c;
}

StatusOr<std::unique_ptr<LocalModel>> LocalModel::Create(const ModelSpec& spec, const OptimizerSpec& optimizer,
                                                         ThreadPool* pool) {
  kernels::OptimizerConfig config = ToOptimizerConfig(optimizer);
  FLOWPS_RETURN_IF_ERROR(config.Validate());
  std::unique_ptr<LocalModel> m(new LocalModel(config, pool));
  FLOWPS_RETURN_IF_ERROR(RegisterStandardOps(&m->registry_));
  FLOWPS_ASSIGN_OR_RETURN(m->model_, BuildModel(spec, &m->registry_));
  std::vector<Output> reads;
  for (const ModelVariable& v : m->model_.variables) reads.push_back(v.read);
  auto grads = Gradients(m->model_.loss, reads);
  if (!grads.ok()) return grads.status().WithContext("adding gradients");
  m->fetches_ = {m->model_.loss};
  for (size_t i = 0; i < reads.size(); ++i) {
    const ModelVariable& mv = m->model_.variables[i];
    TrainedVariable v{mv.name, mv.initial_value.Clone(), m->optimizer_.MakeSlots(mv.initial_value.shape()),
                      (*grads)[i]};
    if (!v.grad.valid()) return InvalidArgument("the loss does not depend on variable '" + v.name + "'");
    auto add_fetch = [&](Output o) {
      m->fetches_.push_back(o);
      return static_cast<int>(m->fetches_.size()) - 1;
    };
    if (v.grad.sparse()) {
      v.indices_fetch = add_fetch(v.grad.indices);
      v.values_fetch = add_fetch(v.grad.values);
    } else {
      v.dense_fetch = add_fetch(v.grad.dense);
    }
    m->store_.Set(v.name, v.value);
    m->vars_.push_back(std::move(v));
  }
  m->executor_ = std::make_unique<Executor>(*m->model_.graph, pool);
  return m;
}

StatusOr<double> LocalModel::Step(const Tensor& images, const Tensor& labels) {
  FeedList feeds = {{model_.x, images}, {model_.y, labels}};
  FLOWPS_ASSIGN_OR_RETURN(std::vector<Tensor> out, executor_->Run(feeds, fetches_, {}, StepOptions{&store_, nullptr}));
  double loss = out[0].data<float>()[0];
  if (!std::isfinite(loss))
    return FailedPrecondition("the loss is " + std::to_string(loss) + " at step " + std::to_string(step_ + 1) +
                              "; lower optimizer.learning_rate");
  ++step_;
  for (TrainedVariable& v : vars_) {
    Status s = v.grad.sparse() ? optimizer_.ApplySparse(v.value, v.slots, out[v.indices_fetch], out[v.values_fetch], step_)
                               : optimizer_.ApplyDense(v.value, v.slots, out[v.dense_fetch], step_, pool_);
    if (!s.ok()) return s.WithContext("step " + std::to_string(step_) + ": variable '" + v.name + "'");
  }
  return loss;
}

StatusOr<LocalModel::BatchGradients> LocalModel::ComputeGradients(const Tensor& images, const Tensor& labels, int towers) {
  const int64_t batch = images.shape().dim(0);
  if (batch < 1) return InvalidArgument("an empty batch has no gradients");
  const int n = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(towers, batch)));
  // One Executor step per tower, all at once on the pool; wait for the last.
  std::vector<StatusOr<std::vector<Tensor>>> outs(n, Status::OK());
  std::mutex mu;
  std::condition_variable cv;
  int pending = n;
  for (int t = 0; t < n; ++t) {
    const int64_t begin = batch * t / n, end = batch * (t + 1) / n;
    FeedList feeds = {{model_.x, images.Slice(begin, end)}, {model_.y, labels.Slice(begin, end)}};
    executor_->RunAsync(feeds, fetches_, {}, StepOptions{&store_, nullptr},
                        [&, t](StatusOr<std::vector<Tensor>> out) {
                          std::lock_guard<std::mutex> lock(mu);
                          outs[static_cast<size_t>(t)] = std::move(out);
                          if (--pending == 0) cv.notify_one();
                        });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return pending == 0; });
  }
  for (auto& out : outs)
    if (!out.ok()) return out.status();

  BatchGradients result;
  for (int t = 0; t < n; ++t) {
    const double weight = static_cast<double>(batch * (t + 1) / n - batch * t / n) / static_cast<double>(batch);
    result.loss += weight * (*outs[static_cast<size_t>(t)])[0].data<float>()[0];
  }
  if (!std::isfinite(result.loss))
    return FailedPrecondition("the loss is " + std::to_string(result.loss) + "; lower optimizer.learning_rate");
  for (const TrainedVariable& v : vars_) {
    VariableGradient g;
    g.variable = v.name;
    g.sparse = v.grad.sparse();
    std::vector<Tensor> parts;
    std::vector<float> weights;
    for (int t = 0; t < n; ++t) {
      const auto& out = *outs[static_cast<size_t>(t)];
      weights.push_back(static_cast<float>(batch * (t + 1) / n - batch * t / n) / static_cast<float>(batch));
      if (!g.sparse) {
        parts.push_back(out[static_cast<size_t>(v.dense_fetch)]);
        continue;
      }
      const Tensor& idx = out[static_cast<size_t>(v.indices_fetch)];
      for (int64_t i = 0; i < idx.num_elements(); ++i)
        g.rows.push_back(idx.dtype() == DType::kInt64 ? idx.data<int64_t>()[i] : idx.data<int32_t>()[i]);
      parts.push_back(out[static_cast<size_t>(v.values_fetch)]);
    }
    if (n == 1) {
      g.values = parts[0];
    } else if (!g.sparse) {
      g.values = Tensor::Zeros(DType::kFloat32, parts[0].shape());
      Eigen::Map<Eigen::ArrayXf> sum(g.values.data<float>(), g.values.num_elements());
      for (size_t t = 0; t < parts.size(); ++t)
        sum += weights[t] * Eigen::Map<const Eigen::ArrayXf>(parts[t].data<float>(), parts[t].num_elements());
    } else {
      std::vector<int64_t> dims = parts[0].shape().dims();
      dims[0] = static_cast<int64_t>(g.rows.size());
      g.values = Tensor::Zeros(DType::kFloat32, Shape(dims));
      float* dst = g.values.data<float>();
      for (size_t t = 0; t < parts.size(); ++t) {
        Eigen::Map<Eigen::ArrayXf>(dst, parts[t].num_elements()) =
            weights[t] * Eigen::Map<const Eigen::ArrayXf>(parts[t].data<float>(), parts[t].num_elements());
        dst += parts[t].num_elements();
      }
    }
    result.grads.push_back(std::move(g));
  }
  return result;
}

Status LocalModel::SetVariables(const std::map<std::string, Tensor>& values) {
  for (TrainedVariable& v : vars_) {
    auto it = values.find(v.name);
    if (it != values.end() && it->second.shape().dims() != v.value.shape().dims())
      return InvalidArgument("variable '" + v.name + "' has shape " + v.value.shape().ToString() + ", not " +
                             it->second.shape().ToString());
  }
  for (TrainedVariable& v : vars_) {
    auto it = values.find(v.name);
    if (it == values.end()) continue;
    v.value = it->second;
    store_.Set(v.name, v.value);
  }
  return Status::OK();
}

StatusOr<double> LocalModel::Evaluate(const data::Dataset& test) {
  constexpr int64_t kEvalBatch = 1000;
  int64_t correct = 0;
  for (int64_t begin = 0; begin < test.size(); begin += kEvalBatch) {
    int64_t end = std::min(test.size(), begin + kEvalBatch);
    FeedList feeds = {{model_.x, test.images.Slice(begin, end)}};
    FLOWPS_ASSIGN_OR_RETURN(auto out, executor_->Run(feeds, {model_.logits}, {}, StepOptions{&store_, nullptr}));
    correct += CountCorrect(out[0], test.labels.Slice(begin, end));
  }
  return test.size() > 0 ? static_cast<double>(correct) / static_cast<double>(test.size()) : 0.0;
}

int64_t LocalModel::num_parameters() const {
  int64_t n = 0;
  for (const TrainedVariable& v : vars_) n += v.value.num_elements();
  return n;
}

}  // namespace flowps

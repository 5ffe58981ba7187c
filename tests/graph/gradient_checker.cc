#include "gradient_checker.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

#include "graph/executor.h"
#include "graph/gradients.h"
#include "graph/ops.h"

namespace flowps::testing {
namespace {

double WeightedSum(const Tensor& y, const Tensor& r) {
  double s = 0;
  for (int64_t i = 0; i < y.num_elements(); ++i) s += double(y.data<float>()[i]) * double(r.data<float>()[i]);
  return s;
}

}  // namespace

Tensor DistinctTensor(Shape shape, uint32_t seed, float spacing) {
  Tensor t(DType::kFloat32, std::move(shape));
  std::vector<int64_t> order(t.num_elements());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(seed));
  for (int64_t i = 0; i < t.num_elements(); ++i)
    t.data<float>()[i] = (float(order[i]) - float(t.num_elements()) / 2) * spacing;
  return t;
}

Tensor AwayFromZeroTensor(Shape shape, uint32_t seed) {
  Tensor t = RandomTensor(std::move(shape), seed, 0.2f, 1.f);
  std::mt19937 rng(seed + 1);
  for (int64_t i = 0; i < t.num_elements(); ++i)
    if (rng() % 2) t.data<float>()[i] = -t.data<float>()[i];
  return t;
}

GradCheckResult CheckOp(const OpRegistry& registry, ThreadPool* pool, const BuildFn& build,
                        const std::vector<Tensor>& inputs, const GradCheckOptions& options) {
  GradCheckResult result;
  std::ostringstream report;
  Graph g(&registry);
  std::vector<Output> xs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::vector<int64_t> dims = inputs[i].shape().dims();
    if (options.unknown_first_dim && !dims.empty()) dims[0] = -1;
    xs.push_back(Placeholder(g, inputs[i].dtype(), Shape(dims), "x" + std::to_string(i)));
  }
  Output y = build(g, xs);
  if (!g.status().ok() || !y.valid()) {
    result.report = "building the op failed: " + g.status().ToString();
    return result;
  }
  if (y.dtype() != DType::kFloat32) {
    result.report = "the checked output must be float32";
    return result;
  }
  FeedList feeds;
  for (size_t i = 0; i < inputs.size(); ++i) feeds.push_back({xs[i], inputs[i]});
  Executor exec(g, pool);

  // Shape function vs kernel, for every output of y's node.
  std::vector<Output> outs;
  for (int i = 0; i < y.node->num_outputs(); ++i) outs.push_back(y.node->output(i));
  auto fetched = exec.Run(feeds, outs);
  if (!fetched.ok()) {
    result.report = "forward run failed: " + fetched.status().ToString();
    return result;
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    const Tensor& t = (*fetched)[i];
    Status s = t.Check(outs[i].dtype(), outs[i].shape(), "output " + std::to_string(i));
    if (s.ok() && !options.unknown_first_dim && outs[i].shape() != t.shape())
      s = InvalidArgument("output " + std::to_string(i) + ": inferred " + outs[i].shape().ToString() +
                          ", kernel produced " + t.shape().ToString());
    if (!s.ok()) {
      result.report = "shape function disagrees with the kernel: " + s.message();
      return result;
    }
  }
  if (options.shape_only) {
    result.ok = true;
    return result;
  }

  Tensor r = RandomTensor((*fetched)[y.index].shape(), options.seed, 0.5f, 1.5f);
  Output loss = ReduceSum(y * ReshapeLike(Const(g, r), y));
  std::vector<int> checked = options.inputs;
  if (checked.empty())
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].dtype() == DType::kFloat32) checked.push_back(static_cast<int>(i));
  std::vector<Output> wrt;
  for (int i : checked) wrt.push_back(xs[i]);
  auto grads = Gradients(loss, wrt);
  if (!grads.ok()) {
    result.report = "Gradients failed: " + grads.status().ToString();
    return result;
  }
  std::vector<Output> dense;
  for (size_t k = 0; k < wrt.size(); ++k) {
    if (!(*grads)[k].valid()) {
      result.report = "no gradient reaches input " + std::to_string(checked[k]);
      return result;
    }
    dense.push_back(DenseGradient((*grads)[k], wrt[k]));
  }
  if (!g.status().ok()) {
    result.report = "building the gradient failed: " + g.status().ToString();
    return result;
  }
  Executor grad_exec(g, pool);
  auto symbolic = grad_exec.Run(feeds, dense);
  if (!symbolic.ok()) {
    result.report = "gradient run failed: " + symbolic.status().ToString();
    return result;
  }

  bool ok = true;
  for (size_t k = 0; k < checked.size(); ++k) {
    const Tensor& base = inputs[checked[k]];
    const Tensor& sym = (*symbolic)[k];
    for (int64_t j = 0; j < base.num_elements(); ++j) {
      double l[2];
      for (int side = 0; side < 2; ++side) {
        Tensor moved = base.Clone();
        moved.data<float>()[j] += side == 0 ? options.eps : -options.eps;
        FeedList f = feeds;
        f[checked[k]].second = moved;
        auto yv = grad_exec.Run(f, {y});
        if (!yv.ok()) {
          result.report = "perturbed run failed: " + yv.status().ToString();
          return result;
        }
        l[side] = WeightedSum((*yv)[0], r);
      }
      const double numeric = (l[0] - l[1]) / (2.0 * options.eps);
      const double got = sym.data<float>()[j];
      const double err = std::abs(got - numeric);
      result.max_error = std::max(result.max_error, err);
      if (err > options.atol + options.rtol * std::abs(numeric)) {
        if (ok) report << "gradient mismatch:";
        ok = false;
        report << " input " << checked[k] << "[" << j << "]: symbolic " << got << " numeric " << numeric << ";";
      }
    }
  }
  result.ok = ok;
  result.report = report.str();
  return result;
}

}  // namespace flowps::testing

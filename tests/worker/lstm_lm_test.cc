// The built-in lstm_lm (worker/lstm_lm.h) on tiny configurations: its graph
// and placement requests, its gradients against central differences, the
// split softmax against the single one, gradient clipping, and sampling.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "core/thread_pool.h"
#include "graph/model_roles.h"
#include "worker/local_model.h"
#include "worker/lstm_lm.h"
#include "worker/models.h"
#include "tiny_lstm_lm.h"

using namespace flowps;

namespace {

using testing::RandomTextBatch;
using testing::TinyLstmLm;

std::unique_ptr<LocalModel> Create(const ModelSpec& spec, ThreadPool* pool, double clip_norm = 0) {
  OptimizerConfig optimizer;
  optimizer.clip_norm = clip_norm;
  auto m = LocalModel::Create(spec, optimizer, pool);
  INFO(m.status().ToString());
  REQUIRE(m.ok());
  return std::move(m).value();
}

// The current values of every variable (copies).
std::map<std::string, Tensor> Values(LocalModel& m) {
  std::map<std::string, Tensor> out;
  for (const ModelVariable& v : m.model().variables) {
    auto got = m.Fetch({}, {v.read});
    REQUIRE(got.ok());
    out[v.name] = (*got)[0].Clone();
  }
  return out;
}

double Loss(LocalModel& m, const std::vector<std::pair<std::string, Tensor>>& feeds) {
  auto out = m.Fetch(feeds, {m.model().loss});
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  return (*out)[0].data<float>()[0];
}

// A gradient as a dense tensor of the variable's shape (sparse rows summed).
Tensor Densify(const VariableGradient& g, const Shape& shape) {
  if (!g.sparse) return g.values;
  Tensor dense(DType::kFloat32, shape);
  std::fill_n(dense.data<float>(), dense.num_elements(), 0.f);
  const int64_t row = shape.dim(1);
  for (size_t r = 0; r < g.rows.size(); ++r)
    for (int64_t j = 0; j < row; ++j)
      dense.data<float>()[g.rows[r] * row + j] += g.values.data<float>()[static_cast<int64_t>(r) * row + j];
  return dense;
}

}  // namespace

TEST_CASE("lstm_lm builds with each layer's nodes requesting its layer's device and the roles of a text model") {
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  ModelSpec spec = TinyLstmLm(2);
  spec.layer_devices = {"/device:cpu:0", "/device:cpu:1"};
  spec.softmax_devices = {"/device:cpu:2", "/device:cpu:3"};
  auto g = BuildBuiltinGraph(spec, &registry);
  INFO(g.status().ToString());
  REQUIRE(g.ok());
  REQUIRE(ValidateModel(**g).ok());
  int per_layer[2] = {0, 0};
  for (const auto& n : (*g)->nodes()) {
    for (int d = 0; d < 2; ++d)
      if (n->name().rfind("lstm" + std::to_string(d) + "/", 0) == 0) {
        INFO(n->name());
        CHECK(n->requested_device() == spec.layer_devices[static_cast<size_t>(d)]);
        ++per_layer[d];
      }
    if (n->name().rfind("softmax/part1/", 0) == 0) CHECK(n->requested_device() == "/device:cpu:3");
    if (n->op() == "PickColumn" || n->op() == "LogSumExp") CHECK_FALSE(n->requested_device().empty());
  }
  CHECK(per_layer[0] > 5 * spec.unroll);  // the unrolled steps, every one on its layer's device
  CHECK(per_layer[1] > 5 * spec.unroll);
  CHECK((*g)->FindNode("embedding")->requested_device() == "/device:cpu:0");
  const GraphRoles& roles = (*g)->roles();
  REQUIRE(roles.metrics.size() == 2);
  CHECK(roles.metrics[0].kind == "perplexity");
  CHECK((*g)->FindNode("logits")->output_shape(0).dim(1) == 7);

  spec.layer_devices = {"/device:cpu:0", "cpu1"};
  auto refused = BuildBuiltinGraph(spec, &registry);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(), Catch::Contains("model.layer_devices"));
}

TEST_CASE("a tiny lstm_lm with a split softmax has numerically correct gradients for every variable") {
  auto pool = NewAsioThreadPool(2);
  auto m = Create(TinyLstmLm(3), pool.get());
  const auto feeds = RandomTextBatch(3, 5, 7, 11);
  auto grads = m->ComputeGradients(feeds);
  INFO(grads.status().ToString());
  REQUIRE(grads.ok());
  std::map<std::string, Tensor> values = Values(*m);
  constexpr float kEps = 5e-3f;
  double worst = 0;
  for (size_t i = 0; i < m->model().variables.size(); ++i) {
    const ModelVariable& v = m->model().variables[i];
    const Tensor analytic = Densify(grads->grads[i], values.at(v.name).shape());
    Tensor& x = values.at(v.name);
    for (int64_t k = 0; k < x.num_elements(); ++k) {
      const float saved = x.data<float>()[k];
      x.data<float>()[k] = saved + kEps;
      REQUIRE(m->SetVariables(values).ok());
      const double plus = Loss(*m, feeds);
      x.data<float>()[k] = saved - kEps;
      REQUIRE(m->SetVariables(values).ok());
      const double minus = Loss(*m, feeds);
      x.data<float>()[k] = saved;
      const double numeric = (plus - minus) / (2 * kEps);
      const double error = std::abs(numeric - analytic.data<float>()[k]) / std::max(1.0, std::abs(numeric));
      INFO(v.name << "[" << k << "]: numeric " << numeric << ", analytic " << analytic.data<float>()[k]);
      CHECK(error < 2e-3);
      worst = std::max(worst, error);
    }
    REQUIRE(m->SetVariables(values).ok());
  }
  WARN("largest gradient error " << worst);
}

TEST_CASE("the split softmax's loss and logits equal the single softmax's for the same projection") {
  auto pool = NewAsioThreadPool(2);
  auto single = Create(TinyLstmLm(1), pool.get());
  auto split = Create(TinyLstmLm(3), pool.get());  // columns [0, 3), [3, 5), [5, 7)
  std::map<std::string, Tensor> values = Values(*single);
  const Tensor& w = values.at("softmax/W");
  const Tensor& b = values.at("softmax/b");
  std::map<std::string, Tensor> parts = values;
  const int64_t begin[] = {0, 3, 5, 7};
  for (int p = 0; p < 3; ++p) {
    const int64_t width = begin[p + 1] - begin[p];
    Tensor wp(DType::kFloat32, Shape{4, width}), bp(DType::kFloat32, Shape{width});
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t j = 0; j < width; ++j) wp.data<float>()[r * width + j] = w.data<float>()[r * 7 + begin[p] + j];
    for (int64_t j = 0; j < width; ++j) bp.data<float>()[j] = b.data<float>()[begin[p] + j] + 0.1f * j;
    parts["softmax/part" + std::to_string(p) + "/W"] = wp;
    parts["softmax/part" + std::to_string(p) + "/b"] = bp;
    for (int64_t j = 0; j < width; ++j) values.at("softmax/b").data<float>()[begin[p] + j] = bp.data<float>()[j];
  }
  REQUIRE(single->SetVariables(values).ok());
  REQUIRE(split->SetVariables(parts).ok());
  const auto feeds = RandomTextBatch(4, 5, 7, 12);
  CHECK(Loss(*split, feeds) == Approx(Loss(*single, feeds)).epsilon(1e-5));
  auto a = single->Fetch(feeds, {Output{single->model().graph->FindNode("logits"), 0}});
  auto c = split->Fetch(feeds, {Output{split->model().graph->FindNode("logits"), 0}});
  REQUIRE(a.ok());
  REQUIRE(c.ok());
  for (int64_t i = 0; i < (*a)[0].num_elements(); ++i)
    CHECK((*c)[0].data<float>()[i] == Approx((*a)[0].data<float>()[i]).margin(1e-5));
}

TEST_CASE("optimizer.clip_norm clips a batch's gradients to that global norm, and leaves smaller ones alone") {
  auto pool = NewAsioThreadPool(2);
  const auto feeds = RandomTextBatch(3, 5, 7, 13);
  auto global_norm = [&](double clip) {
    auto m = Create(TinyLstmLm(2), pool.get(), clip);
    auto g = m->ComputeGradients(feeds);
    REQUIRE(g.ok());
    double sq = 0;
    for (const VariableGradient& v : g->grads)
      for (int64_t i = 0; i < v.values.num_elements(); ++i) sq += std::pow(v.values.data<float>()[i], 2);
    return std::sqrt(sq);
  };
  const double unclipped = global_norm(0);
  REQUIRE(unclipped > 0.05);
  CHECK(global_norm(0.05) == Approx(0.05).epsilon(1e-4));
  CHECK(global_norm(10 * unclipped) == Approx(unclipped).epsilon(1e-5));
}

TEST_CASE("a sample continues the prompt with bytes drawn from the model, the same for the same seed") {
  auto pool = NewAsioThreadPool(2);
  ModelSpec spec = TinyLstmLm();
  spec.vocab = 128;
  auto m = Create(spec, pool.get());
  SampleOptions options;
  options.prompt = "ab";
  options.length = 12;
  auto a = SampleText(*m, options);
  auto b = SampleText(*m, options);
  INFO(a.status().ToString());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->size() == 12);
  CHECK(*a == *b);
  for (char c : *a) CHECK(static_cast<unsigned char>(c) < 128);
  options.temperature = 0;  // greedy: the arg-max at every step
  auto greedy = SampleText(*m, options);
  REQUIRE(greedy.ok());
  CHECK(greedy->size() == 12);
  CHECK(PrintableText(std::string("a\x01\n\xc3")) == "a?\n?");
  CHECK(UnigramPerplexity("aaaa") == Approx(1.0));
  CHECK(UnigramPerplexity("abab") == Approx(2.0));
}

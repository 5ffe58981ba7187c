#include <catch2/catch.hpp>

#include <filesystem>

#include <unistd.h>

#include "core/thread_pool.h"
#include "graph/graph_def.h"
#include "graph/model_roles.h"
#include "graph/ops.h"
#include "graph/op_registry.h"
#include "worker/local_model.h"
#include "worker/models.h"

using namespace flowps;

namespace {

ModelSpec Spec(ModelKind kind, uint64_t seed = 1) {
  ModelSpec s;
  s.kind = kind;
  s.seed = static_cast<int64_t>(seed);
  return s;
}

int64_t Parameters(const Model& m) {
  int64_t n = 0;
  for (const ModelVariable& v : m.variables) n += v.initial_value.num_elements();
  return n;
}

// A batch of 8 synthetic images whose class is readable from one pixel.
std::pair<Tensor, Tensor> Batch() {
  Tensor images = Tensor::Zeros(DType::kFloat32, Shape{8, kImageFeatures});
  Tensor labels(DType::kInt32, Shape{8});
  for (int i = 0; i < 8; ++i) {
    labels.data<int32_t>()[i] = i % kNumClasses;
    images.data<float>()[i * kImageFeatures + 50 * (i % kNumClasses)] = 1.f;
  }
  return {images, labels};
}

}  // namespace

TEST_CASE("the built-in models have the documented interface and sizes") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  struct Case { ModelKind kind; int64_t params; size_t vars; };
  for (const Case& c : {Case{ModelKind::kSoftmax, 784 * 10 + 10, 2},
                        Case{ModelKind::kMlp, 784 * 256 + 256 + 256 * 10 + 10, 4},
                        Case{ModelKind::kCnn, 5 * 5 * 32 + 32 + 5 * 5 * 32 * 64 + 64 + 3136 * 128 + 128 + 1290, 8}}) {
    auto m = BuildModel(Spec(c.kind), &reg);
    INFO(ModelKindName(c.kind));
    REQUIRE(m.ok());
    CHECK(m->x.node->name() == "x");
    CHECK(m->y.node->name() == "y");
    CHECK(m->logits.node->name() == "logits");
    CHECK(m->logits.shape() == Shape{-1, 10});
    CHECK(m->loss.node->name() == "loss");
    CHECK(m->loss.shape() == Shape{});
    CHECK(m->variables.size() == c.vars);
    CHECK(Parameters(*m) == c.params);
  }
}

TEST_CASE("initial values are seeded: the same seed gives the same weights, another seed others") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  auto a = BuildModel(Spec(ModelKind::kMlp, 5), &reg), b = BuildModel(Spec(ModelKind::kMlp, 5), &reg),
       c = BuildModel(Spec(ModelKind::kMlp, 6), &reg);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  auto w = [](const Model& m) { return m.variables[0].initial_value.ToVector<float>(); };
  CHECK(w(*a) == w(*b));
  CHECK(w(*a) != w(*c));
  std::vector<float> v = w(*a);
  double sum_sq = 0;
  for (float f : v) sum_sq += f * f;
  CHECK(std::sqrt(sum_sq / v.size()) == Approx(std::sqrt(2.0 / 784)).epsilon(0.05));  // He-normal
  auto s = BuildModel(Spec(ModelKind::kSoftmax), &reg);
  REQUIRE(s.ok());
  for (float f : s->variables[0].initial_value.ToVector<float>()) REQUIRE(f == 0.f);  // softmax starts at zero
}

TEST_CASE("a built-in model is a complete-model graph: initializers on its variables, roles for its data") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  auto g = BuildBuiltinGraph(Spec(ModelKind::kMlp, 3), &reg);
  REQUIRE(g.ok());
  CHECK(ValidateModel(**g).ok());
  const GraphRoles& roles = (*g)->roles();
  REQUIRE(roles.inputs.size() == 2);
  CHECK(roles.inputs[0].placeholder->name() == "x");
  CHECK(roles.inputs[0].column == "features");
  CHECK(roles.inputs[1].column == "label");
  CHECK(roles.loss.node->name() == "loss");
  REQUIRE(roles.metrics.size() == 1);
  CHECK(roles.metrics[0].kind == "accuracy");
  auto init = InitializerFromAttrs((*g)->FindNode("hidden0/W")->attrs());
  REQUIRE((init.ok() && init->has_value()));
  CHECK((*init)->kind == kernels::InitializerKind::kHeNormal);
  CHECK((*init)->seed == 3);
}

TEST_CASE("a model saved as a graph file trains exactly like the built-in one") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  auto built = BuildBuiltinGraph(Spec(ModelKind::kMlp, 3), &reg);
  REQUIRE(built.ok());
  std::string path = (std::filesystem::temp_directory_path() / ("flowps_model_" + std::to_string(::getpid()) + ".fgraph")).string();
  REQUIRE(WriteGraphFile(**built, path).ok());

  ModelSpec from_file;
  from_file.kind = ModelKind::kGraphFile;
  from_file.graph_file = path;
  OptimizerConfig sgd;
  sgd.learning_rate = 0.1;
  auto pool = NewAsioThreadPool(2);
  auto a = LocalModel::Create(Spec(ModelKind::kMlp, 3), sgd, pool.get());
  auto b = LocalModel::Create(from_file, sgd, pool.get());
  auto bytes = ReadModelGraphFile(path);
  std::filesystem::remove(path);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(bytes.ok());
  ModelSpec shipped = from_file;  // as a worker gets it: the bytes, no file
  shipped.graph_def = *bytes;
  auto c = LocalModel::Create(shipped, sgd, pool.get());
  REQUIRE(c.ok());
  CHECK((*b)->num_parameters() == (*a)->num_parameters());
  auto [images, labels] = Batch();
  for (int step = 0; step < 3; ++step) {
    auto la = (*a)->Step(images, labels), lb = (*b)->Step(images, labels), lc = (*c)->Step(images, labels);
    REQUIRE((la.ok() && lb.ok() && lc.ok()));
    CHECK(*la == *lb);
    CHECK(*la == *lc);
  }
}

TEST_CASE("a graph file that is not a complete model is refused naming the file and the node") {
  OpRegistry reg;
  REQUIRE(RegisterStandardOps(&reg).ok());
  Graph g(&reg);
  Output x = Placeholder(g, DType::kFloat32, Shape{-1, 4}, "x");
  Output w = Variable(g, "W", Shape{4, 2});  // no initializer
  Output loss = ReduceMean(MatMul(x, w));
  g.roles().inputs = {{x.node, "features"}};
  g.roles().loss = loss;
  REQUIRE(g.status().ok());
  std::string path = (std::filesystem::temp_directory_path() / ("flowps_noinit_" + std::to_string(::getpid()) + ".fgraph")).string();
  REQUIRE(WriteGraphFile(g, path).ok());
  auto read = ReadModelGraphFile(path);
  ModelSpec spec;
  spec.kind = ModelKind::kGraphFile;
  spec.graph_file = path;
  auto loaded = BuildModel(spec, &reg);
  std::filesystem::remove(path);
  REQUIRE_FALSE(read.ok());
  CHECK_THAT(read.status().message(), Catch::Contains(path) && Catch::Contains("node 'W'") &&
                                          Catch::Contains("has no initializer"));
  REQUIRE_FALSE(loaded.ok());
  CHECK_THAT(loaded.status().message(), Catch::Contains(path) && Catch::Contains("node 'W'"));
}

TEST_CASE("training steps lower the loss on a batch, and a diverging step is refused") {
  OptimizerConfig sgd;
  sgd.learning_rate = 0.5;
  auto pool = NewAsioThreadPool(2);
  auto model = LocalModel::Create(Spec(ModelKind::kMlp), sgd, pool.get());
  REQUIRE(model.ok());
  auto [images, labels] = Batch();
  auto first = (*model)->Step(images, labels);
  REQUIRE(first.ok());
  double last = *first;
  for (int i = 0; i < 30; ++i) {
    auto l = (*model)->Step(images, labels);
    REQUIRE(l.ok());
    last = *l;
  }
  CHECK(last < 0.2 * *first);
  data::Dataset ds;
  ds.images = images;
  ds.labels = labels;
  auto acc = (*model)->Evaluate(ds);
  REQUIRE(acc.ok());
  CHECK(*acc == 1.0);

  OptimizerConfig wild;
  wild.learning_rate = 1e30;
  auto diverging = LocalModel::Create(Spec(ModelKind::kMlp), wild, pool.get());
  REQUIRE(diverging.ok());
  Status failure;
  for (int i = 0; i < 10 && failure.ok(); ++i) failure = (*diverging)->Step(images, labels).status();
  CHECK(failure.code() == Code::kFailedPrecondition);
  CHECK_THAT(failure.message(), Catch::Contains("learning_rate"));
}

TEST_CASE("accuracy counts the rows whose largest logit is the label") {
  Tensor logits = Tensor::FromVector<float>(Shape{3, 3}, {0.1f, 0.9f, 0.0f, 2.f, 1.f, 0.f, -1.f, -2.f, -0.5f});
  Tensor labels = Tensor::FromVector<int32_t>(Shape{3}, {1, 1, 2});
  CHECK(CountCorrect(logits, labels) == 2);
}

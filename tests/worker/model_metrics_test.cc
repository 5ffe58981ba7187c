#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "core/thread_pool.h"
#include "graph/graph_def.h"
#include "graph/model_roles.h"
#include "graph/ops.h"
#include "worker/local_model.h"
#include "worker/model_metrics.h"

using namespace flowps;

TEST_CASE("the AUC is the chance that a positive scores above a negative, ties counting one half") {
  CHECK(AreaUnderCurve({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1}) == Approx(0.75));
  CHECK(AreaUnderCurve({1, 2, 3, 4}, {0, 0, 1, 1}) == Approx(1.0));
  CHECK(AreaUnderCurve({4, 3, 2, 1}, {0, 0, 1, 1}) == Approx(0.0));
  CHECK(AreaUnderCurve({1, 1, 1, 1}, {0, 1, 0, 1}) == Approx(0.5));
  CHECK(std::isnan(AreaUnderCurve({1, 2}, {1, 1})));  // one class only
}

TEST_CASE("a model's test metrics are every metric its roles name, plus the mean loss, over the whole set") {
  // score = x0 + x1 (W is constant 1); the roles report its AUC and mean.
  const auto dir = std::filesystem::temp_directory_path() / ("flowps_metrics_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "test.csv") << "a,b,label\n0.1,0,0\n0.2,0.2,0\n0.3,0.05,1\n0.5,0.3,1\n0,0,0\n";
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  Graph g(&registry);
  Output x = Placeholder(g, DType::kFloat32, Shape{-1, 2}, "x");
  Output y = Placeholder(g, DType::kInt32, Shape{-1}, "y");
  kernels::InitializerSpec one;
  one.kind = kernels::InitializerKind::kConstant;
  one.value = 1;
  Output score = Reshape(MatMul(x, Variable(g, "W", Shape{2, 1}, one)), Shape{-1});
  Output loss = ReduceMean(score);
  REQUIRE(g.status().ok());
  g.roles().inputs = {{x.node, "features"}, {y.node, "label"}};
  g.roles().loss = loss;
  g.roles().metrics = {{"auc", "auc", {score, y}}, {"mean_score", "mean", {score}}};
  REQUIRE(WriteGraphFile(g, (dir / "m.graph").string()).ok());

  ModelSpec spec;
  spec.kind = ModelKind::kGraphFile;
  spec.graph_file = (dir / "m.graph").string();
  auto pool = NewAsioThreadPool(1);
  auto model = LocalModel::Create(spec, OptimizerConfig{}, pool.get());
  REQUIRE(model.ok());
  data::SourceOptions csv;
  csv.format = DataFormat::kCsv;
  auto test = data::DataSource::Open(csv, (dir / "test.csv").string());
  REQUIRE(test.ok());
  auto metrics = EvaluateMetrics(*test, {{"x", "features", ""}, {"y", "label", ""}}, model->get());
  std::filesystem::remove_all(dir);
  INFO(metrics.status().ToString());
  REQUIRE(metrics.ok());
  // Scores 0.1, 0.4, 0.35, 0.8, 0: negatives {0.1, 0.4, 0}, positives {0.35, 0.8}: 5 of 6 pairs ordered.
  CHECK(metrics->at("auc") == Approx(5.0 / 6.0));
  CHECK(metrics->at("mean_score") == Approx(1.65 / 5));
  CHECK(metrics->at("loss") == Approx(1.65 / 5));
  CHECK(metrics->count("accuracy") == 0);
  CHECK(FormatMetrics({{"accuracy", 0.8531}, {"loss", 0.41716}}) == "accuracy 85.31%, loss 0.4172");
}

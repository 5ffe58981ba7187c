#include <catch2/catch.hpp>

#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "core/thread_pool.h"
#include "data/dataset.h"
#include "worker/local_trainer.h"
#include "../train_job.h"

using namespace flowps;

namespace {

bool RealDataInstalled() {
  return std::filesystem::exists(std::string(data::kFashionMnistDir) + "/train-images-idx3-ubyte.gz");
}

// Parses `yaml` as a job and trains it on a 2-thread pool; the log goes to *log.
StatusOr<TrainResult> Train(const std::string& yaml, std::string* log) {
  auto job = ParseJobSpec(yaml, "job.yaml");
  if (!job.ok()) return job.status();
  return testing::TrainJob(*job, log);
}

}  // namespace

TEST_CASE("softmax regression on the real data reaches 75% test accuracy within 300 steps, logging progress") {
  if (!RealDataInstalled()) {
    WARN("dataset-fashion-mnist is not installed; training test not run");
    return;
  }
  auto run_dir = std::filesystem::temp_directory_path() / ("flowps_train_" + std::to_string(::getpid()));
  std::string text;
  auto result = Train("name: quick\nmodel:\n  type: softmax\noptimizer:\n  type: sgd\n  learning_rate: 0.2\n"
                      "mode:\n  type: async\ndata:\n  batch_size: 100\n  seed: 3\n"
                      "train:\n  steps: 300\n  log_every_steps: 100\n  eval_every_steps: 150\nrun_dir: " +
                          run_dir.string() + "\n",
                      &text);
  REQUIRE(result.ok());
  CHECK(result->steps == 300);
  CHECK(result->epochs == Approx(0.5));
  // SGD at this rate ends between 76.9% and 81.0% over data seeds 1 to 5.
  CHECK(result->test_accuracy >= 0.75);
  CHECK_THAT(text, Catch::Contains("step 100/300") && Catch::Contains("ex/s") && Catch::Contains("ETA"));
  CHECK_THAT(text, Catch::Contains("test accuracy") && Catch::Contains("done: final test accuracy"));
  std::ifstream metrics(result->metrics_path);
  int lines = 0;
  for (std::string line; std::getline(metrics, line);) ++lines;
  CHECK(lines == 4);  // steps 100, 150 (eval), 200, 300
  std::filesystem::remove_all(run_dir);
}

TEST_CASE("the MLP on the real data reaches 83% test accuracy after one epoch") {
  if (!RealDataInstalled()) {
    WARN("dataset-fashion-mnist is not installed; training test not run");
    return;
  }
  std::string text;
  auto result = Train("name: mlp1\nmodel:\n  type: mlp\n  hidden: [256]\noptimizer:\n  type: adam\n"
                      "  learning_rate: 0.001\nmode:\n  type: sync\ndata:\n  batch_size: 64\n  seed: 1\n"
                      "train:\n  epochs: 1\n  log_every_steps: 500\n",
                      &text);
  REQUIRE(result.ok());
  CHECK(result->steps == 938);
  CHECK(result->test_accuracy >= 0.83);
  CHECK_THAT(text, Catch::Contains("mode sync (total_workers 1) applies to submitted jobs"));
}

TEST_CASE("a job whose data directory lacks the files fails with the path") {
  auto dir = std::filesystem::temp_directory_path() / ("flowps_nodata_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string text;
  auto result = Train("name: q\nmodel:\n  type: softmax\noptimizer:\n  type: sgd\n  learning_rate: 0.2\n"
                      "mode:\n  type: async\ndata:\n  path: " + dir.string() + "\ntrain:\n  steps: 3\n",
                      &text);
  std::filesystem::remove_all(dir);
  REQUIRE_FALSE(result.ok());
  CHECK_THAT(result.status().message(), Catch::Contains(dir.string() + "/train-images-idx3-ubyte"));
}

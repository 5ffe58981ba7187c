#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "core/job_spec.h"

using namespace flowps;
namespace fs = std::filesystem;

namespace {

// A valid spec whose data path is a directory that exists everywhere.
std::string Valid(const std::string& extra_optimizer = "", const std::string& mode = "  type: async\n") {
  return "name: t\n"
         "model:\n  type: mlp\n  hidden: [32, 16]\n"
         "data:\n  path: /tmp\n  batch_size: 8\n"
         "optimizer:\n  type: momentum\n  learning_rate: 0.1\n" + extra_optimizer +
         "mode:\n" + mode +
         "train:\n  steps: 10\n";
}

std::string ErrorOf(const std::string& text) {
  auto job = ParseJobSpec(text, "job.yaml");
  return job.ok() ? std::string("<accepted>") : job.status().message();
}

}  // namespace

TEST_CASE("every example job in configs/jobs loads") {
  int loaded = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(FLOWPS_SOURCE_DIR) / "configs/jobs")) {
    if (entry.path().extension() != ".yaml") continue;
    auto job = LoadJobSpec(entry.path().string());
    INFO(entry.path().string());
    CHECK(job.status().message() == "");
    ++loaded;
  }
  CHECK(loaded >= 2);
  auto mlp = LoadJobSpec(std::string(FLOWPS_SOURCE_DIR) + "/configs/jobs/mlp.yaml");
  REQUIRE(mlp.ok());
  CHECK(mlp->model.kind == ModelKind::kMlp);
  CHECK(mlp->model.hidden == std::vector<int64_t>{256});
  CHECK(mlp->optimizer.kind == OptimizerKind::kAdam);
  CHECK(mlp->mode.mode == TrainingMode::kSync);
  CHECK(mlp->mode.replicas_to_aggregate == 2);
  CHECK(mlp->epochs == 5);
  CHECK(mlp->checkpoint.keep == 3);
  CHECK(mlp->checkpoint.table_full_every == 10);  // the default
}

TEST_CASE("a valid spec fills defaults, and sync derives the aggregation count from backups") {
  auto job = ParseJobSpec(Valid("", "  type: sync\n  total_workers: 3\n  backup_workers: 1\n"), "job.yaml");
  REQUIRE(job.ok());
  CHECK(job->data.shuffle);
  CHECK(job->data.batch_size == 8);
  CHECK(job->optimizer.momentum == 0.9);
  CHECK(job->mode.replicas_to_aggregate == 2);
  CHECK(job->mode.backup_workers == 1);
  CHECK(job->checkpoint.dir.empty());
  CHECK(job->steps == 10);
}

TEST_CASE("a bad job spec is refused naming file, line and key") {
  CHECK(ErrorOf(Valid() + "trian: 3\n") == "job.yaml:15: unknown key 'trian'");
  CHECK(ErrorOf(Valid("  learning_rate_decay: 0.5\n")) == "job.yaml:11: unknown key 'optimizer.learning_rate_decay'");
  CHECK(ErrorOf(Valid().replace(Valid().find("momentum"), 8, "rmsprop")) ==
        "job.yaml:9: key 'optimizer.type' is 'rmsprop', expected one of sgd | momentum | adagrad | adam | ftrl");
  CHECK(ErrorOf(Valid().replace(Valid().find("0.1"), 3, "-1")) == "job.yaml:10: key 'optimizer.learning_rate' must be positive");
  CHECK(ErrorOf(Valid("  beta1: 0.5\n")) == "job.yaml:11: key 'optimizer.beta1' is only valid for type adam");
  CHECK(ErrorOf(Valid().replace(Valid().find("mlp"), 3, "softmax")) ==
        "job.yaml:4: key 'model.hidden' is only valid for types mlp and wide_deep");
  CHECK(ErrorOf(Valid().replace(Valid().find("[32, 16]"), 8, "[32, 0]")) ==
        "job.yaml:4: key 'model.hidden' layer width 0 must be positive");
  CHECK(ErrorOf(Valid().replace(Valid().find("8\n"), 1, "many")) == "job.yaml:7: key 'data.batch_size' has the wrong type");
  CHECK(ErrorOf(Valid() + "  epochs: 2\n") == "job.yaml:14: key 'train' must give exactly one of 'steps' and 'epochs'");
  CHECK(ErrorOf(Valid("", "  type: async\n  backup_workers: 1\n")) ==
        "job.yaml:13: key 'mode.backup_workers' is only valid for type sync");
  CHECK(ErrorOf(Valid("", "  type: sync\n  max_staleness: 3\n")) ==
        "job.yaml:13: key 'mode.max_staleness' is only valid for type async");
  CHECK(ErrorOf(Valid("", "  type: sync\n  prefetch: true\n")) ==
        "job.yaml:13: key 'mode.prefetch' is only valid for type async");
  CHECK(ErrorOf(Valid("", "  type: sync\n  total_workers: 2\n  replicas_to_aggregate: 3\n")) ==
        "job.yaml:14: key 'mode.replicas_to_aggregate' is 3 but total_workers 2 - backup_workers 0 is 2");
  CHECK(ErrorOf(Valid().replace(Valid().find("/tmp"), 4, "/no/such/dir")) ==
        "job.yaml:6: key 'data.path' '/no/such/dir' is not an existing directory");
  CHECK(ErrorOf(Valid() + "checkpoint:\n  dir: ck\n") == "job.yaml:16: key 'checkpoint' needs 'every_steps' or 'every_seconds'");
  CHECK(ErrorOf(Valid() + "checkpoint:\n  dir: ck\n  every_steps: 5\n  table_full_every: 0\n") ==
        "job.yaml:18: key 'checkpoint.table_full_every' must be positive");
  CHECK(ErrorOf("name: t\n") == "job.yaml:1: key 'model' is required");
}

TEST_CASE("async bounded staleness reads a refuse or wait policy") {
  auto refuse = ParseJobSpec(Valid("", "  type: async\n  max_staleness: 4\n"), "job.yaml");
  REQUIRE(refuse.ok());
  CHECK(refuse->mode.max_staleness == 4);
  CHECK_FALSE(refuse->mode.prefetch);
  auto prefetch = ParseJobSpec(Valid("", "  type: async\n  prefetch: true\n"), "job.yaml");
  REQUIRE(prefetch.ok());
  CHECK(prefetch->mode.prefetch);
  CHECK(refuse->mode.staleness_policy == StalenessPolicy::kRefuse);
  auto wait = ParseJobSpec(Valid("", "  type: async\n  max_staleness: 4\n  staleness_policy: wait\n"), "job.yaml");
  REQUIRE(wait.ok());
  CHECK(wait->mode.staleness_policy == StalenessPolicy::kWait);
  CHECK(ErrorOf(Valid("", "  type: async\n  staleness_policy: later\n")) ==
        "job.yaml:13: key 'mode.staleness_policy' must be refuse or wait, got 'later'");
  CHECK(ErrorOf(Valid("", "  type: sync\n  staleness_policy: wait\n")) ==
        "job.yaml:13: key 'mode.staleness_policy' is only valid for type async");
}

TEST_CASE("a graph file is resolved against the job file's directory and must exist") {
  fs::path dir = fs::temp_directory_path() / ("flowps_job_" + std::to_string(::getpid()));
  fs::create_directories(dir / "graphs");
  std::ofstream(dir / "graphs/model.fgraph") << "x";
  std::string spec = "name: g\nmodel:\n  graph_file: graphs/model.fgraph\ndata:\n  path: /tmp\n"
                     "optimizer:\n  type: sgd\n  learning_rate: 0.1\nmode:\n  type: async\ntrain:\n  epochs: 1\n";
  std::ofstream(dir / "job.yaml") << spec;
  auto job = LoadJobSpec((dir / "job.yaml").string());
  std::ofstream(dir / "bad.yaml") << std::string(spec).replace(spec.find("model.fgraph"), 12, "other.fgraph");
  auto bad = LoadJobSpec((dir / "bad.yaml").string());
  fs::remove_all(dir);
  REQUIRE(job.ok());
  CHECK(job->model.kind == ModelKind::kGraphFile);
  CHECK(job->model.graph_file == (dir / "graphs/model.fgraph").string());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() ==
        (dir / "bad.yaml").string() + ":3: key 'model.graph_file' 'graphs/other.fgraph' is not an existing file");
}

TEST_CASE("a key given twice in a job spec is refused, not silently the first one") {
  // learning_rate: 0.001 then -5 used to train at 0.001.
  std::string text = Valid("  learning_rate: -5\n");
  CHECK(ErrorOf(text) == "job.yaml:11: key 'optimizer.learning_rate' is given twice (first at line 10)");
  CHECK(ErrorOf("name: a\n" + Valid()) == "job.yaml:2: key 'name' is given twice (first at line 1)");
}

TEST_CASE("a hidden layer too wide for a tensor is refused") {
  std::string text = Valid();
  text.replace(text.find("[32, 16]"), 8, "[4611686018427387904]");
  CHECK_THAT(ErrorOf(text), Catch::Contains("key 'model.hidden' layer width 4611686018427387904 must be at most 1048576"));
}

TEST_CASE("a job spec file above 1 MiB is refused quickly") {
  char tmpl[] = "/tmp/flowps_job_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  {
    std::ofstream out(dir + "/job.yaml");
    out << Valid();
    for (int i = 0; i < 2'000'000; ++i) out << "# padding padding padding\n";
  }
  auto job = LoadJobSpec(dir + "/job.yaml");
  fs::remove_all(dir);
  REQUIRE(!job.ok());
  CHECK_THAT(job.status().message(), Catch::Contains("has more than 1048576 bytes"));
}

namespace {

// A valid spec with `data` as its data section (indented two spaces per line).
std::string WithData(const std::string& data) {
  return "name: t\nmodel:\n  type: mlp\ndata:\n" + data +
         "optimizer:\n  type: sgd\n  learning_rate: 0.1\nmode:\n  type: async\ntrain:\n  steps: 10\n";
}

}  // namespace

TEST_CASE("the data section reads a format, train/test patterns, format options and feeds") {
  const fs::path dir = fs::temp_directory_path() / ("flowps_job_data_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "a.csv") << "x,label\n";
  std::ofstream(dir / "b.csv") << "x,label\n";
  auto job = ParseJobSpec(WithData("  format: csv\n  train: '*.csv'\n  test: b.csv\n  label: y\n"
                                   "  shuffle_buffer: 50\n  prefetch_batches: 2\n  feeds: {x: features, y: label}\n"),
                          (dir / "job.yaml").string());
  REQUIRE(job.ok());
  CHECK(job->data.format == DataFormat::kCsv);
  CHECK(job->data.train == (dir / "*.csv").string());
  CHECK(job->data.test == (dir / "b.csv").string());
  CHECK(job->data.label == "y");
  CHECK(job->data.shuffle_buffer == 50);
  CHECK(job->data.prefetch_batches == 2);
  REQUIRE(job->data.feeds.size() == 2);
  CHECK(job->data.feeds[0].placeholder == "x");
  CHECK(job->data.feeds[0].column == "features");
  CHECK(job->data.feeds[0].where == (dir / "job.yaml").string() + ":11");
  fs::remove_all(dir);

  auto idx = ParseJobSpec(WithData("  batch_size: 4\n"), "job.yaml");
  REQUIRE(idx.ok());
  CHECK(idx->data.format == DataFormat::kIdx);
  CHECK(idx->data.path == "/usr/share/datasets/fashion-mnist");
  CHECK(idx->data.feeds.empty());
}

TEST_CASE("a bad data section is refused naming file, line and key") {
  CHECK(ErrorOf(WithData("  format: parquet\n")) ==
        "job.yaml:5: key 'data.format' is 'parquet', expected one of idx | csv | libsvm | npy | text");
  CHECK(ErrorOf(WithData("  format: csv\n")) == "job.yaml:5: key 'data.train' is required");
  CHECK(ErrorOf(WithData("  format: csv\n  train: /no/such/*.csv\n")) ==
        "job.yaml:6: key 'data.train' '/no/such/*.csv' names no existing file or directory");
  CHECK(ErrorOf(WithData("  format: csv\n  path: /tmp\n")) ==
        "job.yaml:6: key 'data.path' is only valid for format idx (other formats name their files with train and test)");
  CHECK(ErrorOf(WithData("  format: libsvm\n  train: /tmp\n  label: y\n")) ==
        "job.yaml:7: key 'data.label' is only valid for format csv");
  CHECK(ErrorOf(WithData("  format: text\n  train: /tmp\n")) == "job.yaml:5: key 'data.sequence_length' is required");
  CHECK(ErrorOf(WithData("  format: libsvm\n  train: /tmp\n  dense_dim: 0\n")) ==
        "job.yaml:7: key 'data.dense_dim' must be positive");
  CHECK(ErrorOf(WithData("  path: /tmp\n  test: /tmp\n")) ==
        "job.yaml:5: key 'data.path' and train/test both name the data: give one of them");
  CHECK(ErrorOf(WithData("  feeds: [x, y]\n")) ==
        "job.yaml:5: key 'data.feeds' must map placeholders to columns, e.g. {x: features, y: label}");
}

TEST_CASE("a job spec section that is a scalar is refused, not thrown (found by fuzz_job_spec)") {
  std::string text = Valid();
  text.replace(text.find("data:\n  path: /tmp\n  batch_size: 8\n"), 35, "data: 5\n");
  CHECK_THAT(ErrorOf(text), Catch::Contains("key 'data' must be a mapping"));
  CHECK_THAT(ErrorOf("just some words\n"), Catch::Contains("the document must be a mapping"));
}

namespace {

// An lstm_lm job on text files in /tmp, with `model` lines and `data` lines added.
std::string LstmJob(const std::string& model, const std::string& data = "  sequence_length: 32\n") {
  return "name: lm\n"
         "model:\n  type: lstm_lm\n" + model +
         "data:\n  format: text\n  train: /tmp\n" + data +
         "optimizer:\n  type: adam\n  learning_rate: 0.01\n  clip_norm: 5\n"
         "mode:\n  type: sync\n"
         "train:\n  steps: 10\n";
}

}  // namespace

TEST_CASE("an lstm_lm job reads its shapes and devices, takes its unroll from the text's sequence length, and any "
          "optimizer takes clip_norm") {
  auto job = ParseJobSpec(LstmJob("  layers: 2\n  hidden_size: 32\n  layer_devices: [/device:cpu:0, /device:cpu:1]\n"
                                  "  softmax_devices: [/device:cpu:0, /device:cpu:1, /device:cpu:1]\n"),
                          "job.yaml");
  INFO(job.status().ToString());
  REQUIRE(job.ok());
  CHECK(job->model.kind == ModelKind::kLstmLm);
  CHECK(job->model.layers == 2);
  CHECK(job->model.hidden_size == 32);
  CHECK(job->model.vocab == 256);
  CHECK(job->model.unroll == 32);
  CHECK(job->model.softmax_parts == 3);
  CHECK(job->model.layer_devices == std::vector<std::string>{"/device:cpu:0", "/device:cpu:1"});
  CHECK(job->optimizer.clip_norm == 5);
  auto mlp = ParseJobSpec(Valid("  clip_norm: 1.5\n"), "job.yaml");
  REQUIRE(mlp.ok());
  CHECK(mlp->optimizer.clip_norm == 1.5);
  CHECK(ParseJobSpec(Valid(), "job.yaml")->optimizer.clip_norm == 0);
}

TEST_CASE("a bad lstm_lm or clip_norm key is refused naming file, line and key") {
  CHECK(ErrorOf(LstmJob("  unroll: 16\n")) ==
        "job.yaml:4: key 'model.unroll' is 16 but data.sequence_length is 32 (one example is one unrolled sequence)");
  CHECK(ErrorOf(LstmJob("  layers: 3\n  layer_devices: [/device:cpu:0]\n")) ==
        "job.yaml:5: key 'model.layer_devices' names 1 devices for 3 layers");
  CHECK(ErrorOf(LstmJob("  softmax_parts: 2\n  softmax_devices: [/device:cpu:0]\n")) ==
        "job.yaml:4: key 'model.softmax_parts' is 2 but softmax_devices names 1 devices");
  CHECK(ErrorOf(LstmJob("  hidden_size: 0\n")) == "job.yaml:4: key 'model.hidden_size' must be in [1, 1048576]");
  CHECK(ErrorOf(LstmJob("  vocab: 4\n  softmax_parts: 5\n")) ==
        "job.yaml:5: key 'model.softmax_parts' must be at most vocab (4)");
  CHECK_THAT(ErrorOf(Valid().replace(Valid().find("  hidden:"), 0, "  layers: 2\n")),
             Catch::Contains("key 'model.layers' is only valid for type lstm_lm"));
  CHECK(ErrorOf(Valid("  clip_norm: 0\n")) == "job.yaml:11: key 'optimizer.clip_norm' must be positive");
}

TEST_CASE("model.soft_placement is off unless the job turns it on") {
  auto off = ParseJobSpec(Valid(), "job.yaml");
  REQUIRE(off.ok());
  CHECK_FALSE(off->model.soft_placement);
  std::string text = Valid();
  text.replace(text.find("  hidden:"), 0, "  soft_placement: true\n");
  auto on = ParseJobSpec(text, "job.yaml");
  REQUIRE(on.ok());
  CHECK(on->model.soft_placement);
  text.replace(text.find("true"), 4, "maybe");
  CHECK_THAT(ErrorOf(text), Catch::Contains("job.yaml:4: key 'model.soft_placement'"));
}

TEST_CASE("the tables section reads each table's dim, initializer, optimizer, admission and eviction") {
  auto job = ParseJobSpec(Valid() + "tables:\n"
                                    "  wide:\n    dim: 1\n    optimizer: {type: ftrl, learning_rate: 0.1, l1: 0.01}\n"
                                    "  deep:\n    dim: 8\n    initializer: {type: normal, stddev: 0.01, seed: 3}\n"
                                    "    optimizer: {type: adagrad, learning_rate: 0.05}\n"
                                    "    min_count: 3\n    ttl_steps: 100\n    max_rows: 5000\n",
                          "job.yaml");
  REQUIRE(job.ok());
  REQUIRE(job->tables.size() == 2);
  const TableConfig& wide = job->tables[0];
  CHECK(wide.name == "wide");
  CHECK(wide.dim == 1);
  CHECK(wide.optimizer.kind == OptimizerKind::kFtrl);
  CHECK(wide.optimizer.l1 == 0.01);
  CHECK(wide.initializer.kind == "zeros");
  CHECK(wide.min_count == 1);
  const TableConfig& deep = job->tables[1];
  CHECK(deep.initializer.kind == "normal");
  CHECK(deep.initializer.stddev == 0.01);
  CHECK(deep.initializer.seed == 3);
  CHECK(deep.min_count == 3);
  CHECK(deep.ttl_steps == 100);
  CHECK(deep.max_rows == 5000);
  CHECK(deep.where.rfind("job.yaml:", 0) == 0);
}

TEST_CASE("a bad table is refused naming file, line and key, and wide_deep needs its two tables") {
  const std::string deep = "  deep:\n    dim: 8\n    optimizer: {type: adagrad, learning_rate: 0.05}\n";
  CHECK(ErrorOf(Valid() + "tables:\n  deep:\n    dim: 0\n    optimizer: {type: sgd, learning_rate: 1}\n") ==
        "job.yaml:17: key 'tables.deep.dim' must be in [1, 65536]");
  CHECK(ErrorOf(Valid() + "tables:\n  deep:\n    dim: 4\n").find("key 'tables.deep.optimizer'") != std::string::npos);
  CHECK(ErrorOf(Valid() + "tables:\n  deep:\n    dim: 4\n    optimizer: {type: momentum, learning_rate: 1}\n").find(
            "key 'tables.deep.optimizer.type' must be sgd, adagrad, adam or ftrl for a table (not momentum)") !=
        std::string::npos);
  CHECK(ErrorOf(Valid() + "tables:\n" + deep + "    initializer: {type: he_normal}\n").find(
            "key 'tables.deep.initializer.type' is 'he_normal', expected one of zeros") != std::string::npos);
  CHECK(ErrorOf(Valid() + "tables:\n" + deep + "    min_count: 0\n").find("key 'tables.deep.min_count' must be positive") !=
        std::string::npos);
  CHECK(ErrorOf(Valid() + "tables:\n" + deep + "    colour: red\n").find("unknown key 'tables.deep.colour'") !=
        std::string::npos);
  std::string wide_deep = Valid();
  wide_deep.replace(wide_deep.find("type: mlp"), 9, "type: wide_deep");
  CHECK(ErrorOf(wide_deep + "tables:\n" + deep).find("model type wide_deep needs the tables 'wide' (dim 1) and 'deep'") !=
        std::string::npos);
  auto job = ParseJobSpec(wide_deep + "tables:\n" + deep + "  wide:\n    dim: 1\n    optimizer: {type: ftrl, learning_rate: 0.1}\n",
                          "job.yaml");
  REQUIRE(job.ok());
  CHECK(job->model.kind == ModelKind::kWideDeep);
  CHECK(job->model.embedding_dim == 8);
}

TEST_CASE("data.contiguous turns shuffling off, and refuses data.shuffle: true naming both keys") {
  auto job = ParseJobSpec(LstmJob("", "  sequence_length: 32\n  contiguous: true\n"), "job.yaml");
  INFO(job.status().ToString());
  REQUIRE(job.ok());
  CHECK(job->data.contiguous);
  CHECK_FALSE(job->data.shuffle);
  CHECK(job->model.carry_state);
  auto plain = ParseJobSpec(LstmJob("  carry_state: false\n"), "job.yaml");
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->data.contiguous);
  CHECK(plain->data.shuffle);
  CHECK_FALSE(plain->model.carry_state);
  CHECK(ErrorOf(LstmJob("", "  sequence_length: 32\n  shuffle: true\n  contiguous: true\n")) ==
        "job.yaml:9: key 'data.contiguous' cannot be combined with data.shuffle: true (each row of a batch continues "
        "the text of the row before it; shuffling would cut the streams): drop one of them");
  CHECK(ParseJobSpec(LstmJob("", "  sequence_length: 32\n  shuffle: false\n  contiguous: true\n"), "job.yaml").ok());
}

// Distributed training end to end: flowps-ps and flowps-worker processes on
// free loopback ports, jobs handed to the chief as `flowps submit` does, the
// workers' status read as `flowps status` does. Every wait is bounded; every
// process is killed and reaped by PID when a test ends.
#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>

#include <kj/async-io.h>

#include "bench/layered_lstm.h"
#include "data/synth_ctr.h"
#include "worker/job_client.h"
#include "worker/lstm_lm.h"
#include "worker/models.h"
#include "graph/graph_def.h"
#include "graph/model_roles.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "test_process.h"
#include "core/cluster_spec.h"
#include "net/rpc_client.h"
#include "net/rpc_common.h"
#include "net/worker.capnp.h"

using namespace flowps;
using flowps::FreeLoopbackPort;
using flowps::test::Process;
using flowps::test::Slurp;

namespace {

constexpr auto kCallTimeout = std::chrono::milliseconds(3000);

// A cluster of `ps` shards and `workers` workers, each its own process, in a
// temporary folder (specs, logs, checkpoints) removed at the end. With
// `worker_devices` (e.g. "[cpu:0, cpu:1]") every worker runs that many towers.
class TrainingCluster {
 public:
  TrainingCluster(int ps, int workers, const std::string& worker_devices = "") {
    char tmpl[] = "/tmp/flowps_e2e_XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::ofstream(dir_ + "/token") << "e2e-token\n";
    std::ofstream spec(dir_ + "/cluster.yaml");
    spec << "token_file: token\njobs:\n  ps:\n    tasks:\n";
    for (int i = 0; i < ps; ++i) spec << "      - address: 127.0.0.1:" << FreeLoopbackPort() << "\n";
    spec << "  worker:\n    chief: 0\n    tasks:\n";
    for (int i = 0; i < workers; ++i) {
      spec << "      - address: 127.0.0.1:" << FreeLoopbackPort() << "\n";
      if (!worker_devices.empty()) spec << "        devices: " << worker_devices << "\n";
    }
    spec.close();
    auto loaded = LoadClusterSpec(dir_ + "/cluster.yaml");
    REQUIRE(loaded.ok());
    spec_ = *loaded;
    for (int i = 0; i < ps; ++i) Start("ps", i);
    for (int i = 0; i < workers; ++i) Start("worker", i);
    WaitHealthy();
  }
  ~TrainingCluster() {
    for (auto& [name, p] : processes_) p->Kill();
    std::filesystem::remove_all(dir_);
  }

  const ClusterSpec& spec() const { return spec_; }
  const std::string& dir() const { return dir_; }
  kj::AsyncIoContext& io() { return io_; }

  // Starts (or starts again) one task; its output is appended to <dir>/<job><i>.log.
  void Start(const std::string& job, int index) {
    const std::string name = job + std::to_string(index);
    processes_[name] = std::make_unique<Process>(
        std::vector<std::string>{std::string(FLOWPS_BIN_DIR) + "/flowps-" + job, "--cluster", dir_ + "/cluster.yaml",
                                 "--task", std::to_string(index), "--threads", "1"},
        dir_ + "/" + name + ".log");
  }
  void Kill9(const std::string& job, int index) { processes_.at(job + std::to_string(index))->Kill(); }
  void KillAll() {
    for (auto& [name, p] : processes_) p->Kill();
  }
  std::string Logs() const {
    std::string out;
    for (auto& [name, p] : processes_) out += "==== " + name + "\n" + Slurp(dir_ + "/" + name + ".log");
    return out;
  }

  // Every task answers its health call (bounded: 30 s).
  void WaitHealthy() {
    for (const TaskSpec& t : spec_.AllTasks()) {
      RpcClientOptions o;
      o.address = t.address();
      o.token = spec_.token;
      o.connect_timeout = std::chrono::milliseconds(500);
      RpcClient client(io_, o);
      StatusOr<TaskHealth> h = Unavailable("not asked yet");
      for (int i = 0; i < 300 && !h.ok(); ++i) {
        h = WaitFor(client.Health(), io_.waitScope, "health");
        if (!h.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      INFO(Logs());
      REQUIRE(h.ok());
    }
  }

  // Writes a job file of the MLP (hidden 64) on Fashion-MNIST with `mode`
  // lines (the YAML of the mode section) and returns its path.
  std::string WriteJob(const std::string& file, const std::string& mode, int64_t steps,
                       const std::string& extra = "") {
    const std::string path = dir_ + "/" + file;
    std::ofstream(path) << "name: " << file.substr(0, file.find('.')) << "\n"
                        << "model:\n  type: mlp\n  hidden: [64]\n  seed: 1\n"
                        << "data:\n  path: /usr/share/datasets/fashion-mnist\n  batch_size: 64\n  seed: 1\n"
                        << "optimizer:\n  type: adam\n  learning_rate: 0.002\n"
                        << "mode:\n" << mode << "train:\n  steps: " << steps
                        << "\n  log_every_steps: 50\n  eval_every_steps: 100\n"
                        << extra;
    return path;
  }

  Status Submit(const std::string& path) {
    return SubmitJob(io_, spec_, Slurp(path), path, kCallTimeout);
  }
  std::vector<WorkerReport> Workers() {
    io_.waitScope.poll();  // the loop's timer reads the time it last ran: a wait outside it would count
    return QueryWorkers(io_, spec_, kCallTimeout);
  }
  WorkerJobStatus Chief() {
    auto reports = Workers();
    return reports[static_cast<size_t>(spec_.chief)].job;
  }

  // Polls the workers every 200 ms until `done` holds (true) or `limit` passes (false).
  bool WaitUntil(const std::function<bool(const std::vector<WorkerReport>&)>& done, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done(Workers())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }
  // Calls the worker service's `stop` on worker `index`, as a user's client would.
  Status StopWorker(int index) {
    RpcClientOptions o;
    o.address = spec_.workers[static_cast<size_t>(index)].address();
    o.token = spec_.token;
    o.call_timeout = std::chrono::seconds(20);
    RpcClient client(io_, o);
    Status result;
    client.GetService("worker")
        .then([&](capnp::Capability::Client cap) {
          return client.Call(cap.castAs<wire::WorkerControl>().stopRequest().send(), "stop").ignoreResult();
        })
        .then([]() {}, [&](kj::Exception&& e) { result = StatusFromException(e, "stop"); })
        .wait(io_.waitScope);
    return result;
  }
  // Waits (bounded) for the chief's job to end; returns its last status.
  WorkerJobStatus WaitJobEnd(std::chrono::seconds limit) {
    WaitUntil(
        [](const std::vector<WorkerReport>& r) {
          const JobState s = r[0].job.state;
          return r[0].status.ok() && (s == JobState::kDone || s == JobState::kFailed || s == JobState::kStopped);
        },
        limit);
    return Chief();
  }

 private:
  std::string dir_;
  ClusterSpec spec_;
  kj::AsyncIoContext io_ = kj::setupAsyncIo();
  std::map<std::string, std::unique_ptr<Process>> processes_;
};

const char* kSync2 = "  type: sync\n  total_workers: 2\n  replicas_to_aggregate: 2\n";
const char* kSyncBackup = "  type: sync\n  total_workers: 2\n  replicas_to_aggregate: 1\n  backup_workers: 1\n";
const char* kAsync2 = "  type: async\n  total_workers: 2\n";

}  // namespace

TEST_CASE("sync training on 2 ps shards and 2 workers with two devices each reaches 80% test accuracy in 300 "
          "steps", "[e2e]") {
  TrainingCluster cluster(2, 2, "[cpu:0, cpu:1]");
  const std::string job = cluster.WriteJob("sync.yaml", kSync2, 300, "run_dir: " + cluster.dir() + "/run\n");
  REQUIRE(cluster.Submit(job).ok());
  WorkerJobStatus end = cluster.WaitJobEnd(std::chrono::seconds(90));
  INFO(cluster.Logs());
  REQUIRE(end.state == JobState::kDone);
  CHECK(end.global_step == 300);
  CHECK(end.test_accuracy >= 0.80);
  // Both workers pushed a gradient for (nearly) every step.
  auto workers = cluster.Workers();
  CHECK(workers[1].job.state == JobState::kDone);
  CHECK(workers[1].job.local_steps >= 290);
  // Each worker split its batches over the towers on its two devices.
  CHECK_THAT(cluster.Logs(), Catch::Contains("2 tower(s) on /job:worker/task:1/device:cpu:0, /job:worker/task:1/device:cpu:1"));
  // The chief wrote the metrics and the plot.
  CHECK(std::filesystem::file_size(end.metrics_path) > 0);
  CHECK_THAT(Slurp(end.metrics_path), Catch::Contains("\"test_accuracy\""));
  if (!end.plot_path.empty()) CHECK(std::filesystem::file_size(end.plot_path) > 1000);
}

TEST_CASE("async training on 1 ps and 2 workers reaches 80% test accuracy in 1500 steps", "[e2e]") {
  TrainingCluster cluster(1, 2);
  const std::string job = cluster.WriteJob("async.yaml", kAsync2, 1500);
  REQUIRE(cluster.Submit(job).ok());
  WorkerJobStatus end = cluster.WaitJobEnd(std::chrono::seconds(90));
  INFO(cluster.Logs());
  REQUIRE(end.state == JobState::kDone);
  CHECK(end.global_step >= 1500);
  CHECK(end.test_accuracy >= 0.80);
  auto workers = cluster.Workers();
  // Each worker's pushes count as steps of their own: both contributed.
  CHECK(workers[0].job.local_steps > 50);
  CHECK(workers[1].job.local_steps > 50);
}

TEST_CASE("in sync mode with one backup worker, kill -9 of a worker does not stall training, and a restarted "
          "worker rejoins", "[e2e]") {
  TrainingCluster cluster(1, 2);
  const std::string job = cluster.WriteJob("backup.yaml", kSyncBackup, 100000);
  REQUIRE(cluster.Submit(job).ok());
  auto step_at_least = [](int64_t n) {
    return [n](const std::vector<WorkerReport>& r) { return r[0].status.ok() && r[0].job.global_step >= n; };
  };
  INFO(cluster.Logs());
  // Both workers train (worker 1 starts once the chief has set up the job).
  REQUIRE(cluster.WaitUntil([](const auto& r) { return r[1].status.ok() && r[1].job.local_steps >= 20; },
                            std::chrono::seconds(60)));

  cluster.Kill9("worker", 1);
  const int64_t at_kill = cluster.Chief().global_step;
  // Training goes on without worker 1: 100 more steps, bounded in time.
  CHECK(cluster.WaitUntil(step_at_least(at_kill + 100), std::chrono::seconds(60)));
  CHECK(cluster.Chief().state == JobState::kRunning);

  // Started again, worker 1 is put back on the job by the chief and pushes.
  cluster.Start("worker", 1);
  CHECK(cluster.WaitUntil(
      [](const std::vector<WorkerReport>& r) {
        return r[1].status.ok() && r[1].job.state == JobState::kRunning && r[1].job.local_steps >= 20;
      },
      std::chrono::seconds(60)));
  CHECK(cluster.Chief().state == JobState::kRunning);
}

TEST_CASE("workers started with --threads 1 stop a running job when asked, with prefetch on", "[e2e]") {
  TrainingCluster cluster(1, 2);  // every task runs with --threads 1
  const std::string job = cluster.WriteJob("stop.yaml", std::string(kAsync2) + "  prefetch: true\n", 100000);
  REQUIRE(cluster.Submit(job).ok());
  INFO(cluster.Logs());
  REQUIRE(cluster.WaitUntil([](const auto& r) { return r[1].status.ok() && r[1].job.local_steps >= 20; },
                            std::chrono::seconds(60)));
  const auto asked = std::chrono::steady_clock::now();
  REQUIRE(cluster.StopWorker(0).ok());  // returns once the chief's job thread ended
  CHECK(std::chrono::steady_clock::now() - asked < std::chrono::seconds(15));
  CHECK(cluster.Chief().state == JobState::kStopped);
  CHECK(cluster.WaitUntil([](const auto& r) { return r[1].status.ok() && r[1].job.state == JobState::kStopped; },
                          std::chrono::seconds(15)));
}

TEST_CASE("in async mode, training goes on after kill -9 of a worker", "[e2e]") {
  TrainingCluster cluster(1, 2);
  const std::string job = cluster.WriteJob("async_kill.yaml", kAsync2, 100000);
  REQUIRE(cluster.Submit(job).ok());
  INFO(cluster.Logs());
  REQUIRE(cluster.WaitUntil([](const auto& r) { return r[1].status.ok() && r[1].job.local_steps >= 30; },
                            std::chrono::seconds(60)));
  cluster.Kill9("worker", 1);
  const int64_t at_kill = cluster.Chief().global_step;
  CHECK(cluster.WaitUntil([at_kill](const auto& r) { return r[0].job.global_step >= at_kill + 100; },
                          std::chrono::seconds(60)));
  CHECK(cluster.Chief().state == JobState::kRunning);
}

TEST_CASE("a job with a bad spec is refused with file, line and key, and the running job goes on", "[e2e]") {
  TrainingCluster cluster(1, 2);
  const std::string good = cluster.WriteJob("good.yaml", kAsync2, 100000);
  REQUIRE(cluster.Submit(good).ok());
  INFO(cluster.Logs());
  REQUIRE(cluster.WaitUntil([](const auto& r) { return r[0].job.global_step >= 20; }, std::chrono::seconds(60)));

  // Line 12 of the job file is the optimizer's learning rate.
  const std::string bad = cluster.WriteJob("bad.yaml", kAsync2, 100);
  std::string text = Slurp(bad);
  text.replace(text.find("learning_rate: 0.002"), 20, "learning_rate: -1");
  std::ofstream(bad) << text;
  Status refused = cluster.Submit(bad);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.message(), Catch::Contains("bad.yaml:12") && Catch::Contains("optimizer.learning_rate"));

  // A good job is refused too while one runs.
  Status busy = cluster.Submit(cluster.WriteJob("second.yaml", kAsync2, 100));
  REQUIRE_FALSE(busy.ok());
  CHECK_THAT(busy.message(), Catch::Contains("is running"));

  const WorkerJobStatus before = cluster.Chief();
  CHECK(before.job == "good");
  CHECK(before.state == JobState::kRunning);
  CHECK(cluster.WaitUntil([&](const auto& r) { return r[0].job.global_step >= before.global_step + 50; },
                          std::chrono::seconds(60)));
}

TEST_CASE("a job submitted again after a full restart resumes from the newest checkpoint", "[e2e]") {
  auto cluster = std::make_unique<TrainingCluster>(2, 2);
  const std::string checkpoints = cluster->dir() + "/checkpoints";
  const std::string job =
      cluster->WriteJob("resume.yaml", kSync2, 400, "checkpoint:\n  dir: " + checkpoints + "\n  every_steps: 50\n");
  REQUIRE(cluster->Submit(job).ok());
  INFO(cluster->Logs());
  REQUIRE(cluster->WaitUntil([](const auto& r) { return r[0].job.global_step >= 160; }, std::chrono::seconds(60)));

  // Every process dies at once; then every one starts again.
  cluster->KillAll();
  for (int i = 0; i < 2; ++i) cluster->Start("ps", i);
  for (int i = 0; i < 2; ++i) cluster->Start("worker", i);
  cluster->WaitHealthy();
  CHECK(cluster->Chief().state == JobState::kIdle);
  REQUIRE(cluster->Submit(job).ok());
  WorkerJobStatus end = cluster->WaitJobEnd(std::chrono::seconds(90));
  REQUIRE(end.state == JobState::kDone);
  CHECK(end.resumed_from >= 150);
  CHECK(end.resumed_from % 50 == 0);
  CHECK(end.global_step == 400);
  // The steps trained after the restart are only those left after the checkpoint.
  CHECK(cluster->Workers()[0].job.local_steps <= 400 - end.resumed_from);
  CHECK(end.test_accuracy >= 0.80);
}

TEST_CASE("flowps submit --wait follows the job to a summary line, and flowps status --json shows the job", "[e2e]") {
  TrainingCluster cluster(1, 2);
  const std::string job = cluster.WriteJob("cli.yaml", kSync2, 200, "run_dir: " + cluster.dir() + "/run\n");
  const std::string out = cluster.dir() + "/submit.out";
  Process submit({std::string(FLOWPS_BIN_DIR) + "/flowps", "submit", job, "--cluster", cluster.spec().path, "--wait",
                  "--poll-s", "0.2"},
                 out);
  const int status = submit.Wait(std::chrono::seconds(90));
  INFO(Slurp(out) << cluster.Logs());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  const std::string said = Slurp(out);
  CHECK_THAT(said, Catch::Contains("accepted by the chief"));
  CHECK_THAT(said, Catch::Contains("examples/s") && Catch::Contains("ETA"));
  CHECK_THAT(said, Catch::Contains("done: final test accuracy") && Catch::Contains("/run/metrics.jsonl") &&
                       Catch::Contains("/run/curves.png"));

  Process status_json({std::string(FLOWPS_BIN_DIR) + "/flowps", "status", "--cluster", cluster.spec().path, "--json"},
                      cluster.dir() + "/status.out");
  REQUIRE(WIFEXITED(status_json.Wait(std::chrono::seconds(30))));
  const std::string json = Slurp(cluster.dir() + "/status.out");
  CHECK_THAT(json, Catch::Contains("\"job\":{\"job\":\"cli\",\"state\":\"done\",\"global_step\":200"));
  CHECK_THAT(json, Catch::Contains("\"test_accuracy\":") && Catch::Contains("\"stale_dropped\":0"));

  // A bad job file is refused before it reaches the chief: file, line, key.
  const std::string bad = cluster.dir() + "/typo.yaml";
  std::ofstream(bad) << "name: typo\nmodel:\n  type: mlp\n  hiden: [8]\n";
  Process refused({std::string(FLOWPS_BIN_DIR) + "/flowps", "submit", bad, "--cluster", cluster.spec().path},
                  cluster.dir() + "/typo.out");
  const int code = refused.Wait(std::chrono::seconds(30));
  REQUIRE(WIFEXITED(code));
  CHECK(WEXITSTATUS(code) == 2);
  CHECK_THAT(Slurp(cluster.dir() + "/typo.out"), Catch::Contains("typo.yaml:4") && Catch::Contains("model.hiden"));
}

namespace {

// Converts the first `limit` Fashion-MNIST examples of `images` (an idx file
// name; limit 0: all) to format `to` at `out` with flowps data convert.
void Convert(const std::string& images, int64_t limit, const std::string& to, const std::string& out) {
  Process convert({std::string(FLOWPS_BIN_DIR) + "/flowps", "data", "convert", "--from", "idx", "--input",
                   "/usr/share/datasets/fashion-mnist/" + images, "--to", to, "--output", out, "--limit",
                   std::to_string(limit)},
                  out + ".log");
  const int status = convert.Wait(std::chrono::seconds(180));
  INFO(Slurp(out + ".log"));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}
void ConvertToCsv(const std::string& images, int64_t limit, const std::string& out) { Convert(images, limit, "csv", out); }

// The MLP job of `data` (the data section's format and files) for 1 ps and 2
// async workers, fed by name, named after its file.
std::string DataJob(TrainingCluster& cluster, const std::string& file, const std::string& data, int hidden = 64,
                    double learning_rate = 0.002, int shuffle_buffer = 2000, int epochs = 3) {
  const std::string path = cluster.dir() + "/" + file;
  std::ofstream(path) << "name: " << file.substr(0, file.find('.')) << "\nmodel:\n  type: mlp\n  hidden: [" << hidden
                      << "]\n  seed: 1\n"
                      << "data:\n" << data << "  feeds: {x: features, y: label}\n"
                      << "  batch_size: 64\n  seed: 1\n  shuffle_buffer: " << shuffle_buffer << "\n"
                      << "optimizer:\n  type: adam\n  learning_rate: " << learning_rate << "\n"
                      << "mode:\n" << kAsync2 << "train:\n  epochs: " << epochs << "\n  log_every_steps: 50\n  eval_every_steps: 200\n";
  return path;
}

// Runs `flowps submit JOB --wait` (its output to `out`); its wait status.
int SubmitAndWait(TrainingCluster& cluster, const std::string& job, const std::string& out, std::chrono::seconds limit) {
  Process submit({std::string(FLOWPS_BIN_DIR) + "/flowps", "submit", job, "--cluster", cluster.spec().path, "--wait",
                  "--poll-s", "0.2"},
                 out);
  return submit.Wait(limit);
}

}  // namespace

TEST_CASE("1 ps and 2 workers train the MLP from csv files with feeds, sharded between the workers", "[e2e]") {
  TrainingCluster cluster(1, 2);
  ConvertToCsv("train-images-idx3-ubyte.gz", 10000, cluster.dir() + "/train.csv");
  ConvertToCsv("t10k-images-idx3-ubyte.gz", 2000, cluster.dir() + "/test.csv");
  const std::string job = DataJob(cluster, "csv.yaml", "  format: csv\n  train: train.csv\n  test: test.csv\n");
  const std::string out = cluster.dir() + "/submit.out";
  const int status = SubmitAndWait(cluster, job, out, std::chrono::seconds(180));
  INFO(Slurp(out) << cluster.Logs());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  const WorkerJobStatus chief = cluster.WaitJobEnd(std::chrono::seconds(30));
  CHECK(chief.state == JobState::kDone);
  CHECK(chief.total_steps == 471);  // train.epochs 3 of the csv's 10000 examples: ceil(3 * ceil(10000 / 64))
  CHECK(chief.test_accuracy >= 0.75);  // 83% here, on these 2000 test examples
  const std::vector<WorkerReport> workers = cluster.Workers();
  CHECK(workers[1].job.examples > 0);  // the second worker trained on its shard
  CHECK_THAT(Slurp(cluster.dir() + "/worker1.log"), Catch::Contains("trains on its shard of 10000 examples"));
}

TEST_CASE("a malformed csv, libsvm or npy record fails a submitted job before its first step, and submit --wait "
          "names file:line", "[e2e]") {
  TrainingCluster cluster(1, 2);
  const std::string good = cluster.dir() + "/good.csv";
  ConvertToCsv("t10k-images-idx3-ubyte.gz", 100, good);
  // Line 42 of a csv copy, line 42 of a libsvm one, and an npy array cut short.
  auto corrupt = [&](const std::string& from, const std::string& to, const std::string& bad_line) {
    std::ifstream in(from);
    std::ofstream out(to);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) out << (n == 42 ? bad_line : line) << "\n";
  };
  corrupt(good, cluster.dir() + "/bad.csv", "1,2,oops");
  Convert("t10k-images-idx3-ubyte.gz", 100, "libsvm", cluster.dir() + "/good.libsvm");
  corrupt(cluster.dir() + "/good.libsvm", cluster.dir() + "/bad.libsvm", "3 5:0.5 6");
  Convert("t10k-images-idx3-ubyte.gz", 100, "npy", cluster.dir() + "/bad.npy");
  const std::string cut = cluster.dir() + "/bad.npy/features.npy";
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) - 4);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"  format: csv\n  train: bad.csv\n  test: good.csv\n", cluster.dir() + "/bad.csv:42:"},
      {"  format: libsvm\n  train: bad.libsvm\n  dense_dim: 784\n", cluster.dir() + "/bad.libsvm:42:"},
      {"  format: npy\n  train: bad.npy\n", cut + ":0:"}};
  for (const auto& [data, where] : cases) {
    const std::string job = DataJob(cluster, "bad.yaml", data);
    const std::string out = cluster.dir() + "/submit.out";
    const int status = SubmitAndWait(cluster, job, out, std::chrono::seconds(60));
    INFO(data << Slurp(out) << cluster.Logs());
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);
    CHECK_THAT(Slurp(out), Catch::Contains("failed") && Catch::Contains(where));
    const WorkerJobStatus chief = cluster.WaitJobEnd(std::chrono::seconds(30));
    CHECK(chief.state == JobState::kFailed);
    CHECK(chief.global_step == 0);
  }
}

TEST_CASE("on a cluster the MLP reaches 85% on Fashion-MNIST from the csv, libsvm and npy copies flowps data convert "
          "makes, fed by name", "[e2e]") {
  TrainingCluster cluster(1, 2);
  // The whole training set, 4 epochs of MLP 784-256-10 (flowps train of the same model and data in one
  // process: 86.8-87.2% after 3 epochs over three seeds; 784-128-10 gave 86.3-86.7%, and once 84.4% on
  // this async cluster under load, too close to the line).
  const std::map<std::string, std::string> formats = {
      {"csv", "  format: csv\n  train: train.csv\n  test: test.csv\n"},
      {"libsvm", "  format: libsvm\n  train: train.libsvm\n  test: test.libsvm\n  dense_dim: 784\n"},
      {"npy", "  format: npy\n  train: train.npy\n  test: test.npy\n"}};
  for (const auto& [to, data] : formats) {
    Convert("train-images-idx3-ubyte.gz", 0, to, cluster.dir() + "/train." + to);
    Convert("t10k-images-idx3-ubyte.gz", 0, to, cluster.dir() + "/test." + to);
    const std::string job = DataJob(cluster, to + ".yaml", data, 256, 0.001, 10000, 4);
    const std::string out = cluster.dir() + "/" + to + ".out";
    const int status = SubmitAndWait(cluster, job, out, std::chrono::seconds(600));
    INFO(to << "\n" << Slurp(out) << cluster.Logs());
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    const WorkerJobStatus chief = cluster.WaitJobEnd(std::chrono::seconds(30));
    CHECK(chief.job == to);
    CHECK(chief.state == JobState::kDone);
    CHECK(chief.total_steps == 3752);  // 4 epochs of ceil(60000 / 64) steps
    CHECK(chief.test_accuracy >= 0.85);
  }
}

namespace {

// Runs `flowps <args>` (its output to `out`); its exit code, -1 if it did not exit in `limit`.
int Flowps(const std::vector<std::string>& args, const std::string& out, std::chrono::seconds limit) {
  std::vector<std::string> argv{std::string(FLOWPS_BIN_DIR) + "/flowps"};
  argv.insert(argv.end(), args.begin(), args.end());
  Process p(argv, out);
  const int status = p.Wait(limit);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// `text` with `from` replaced by `to` (which must occur).
std::string Replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("a graph job trains on 2 workers from the graph bytes the chief ships, with no graph file on the "
          "workers", "[e2e]") {
  TrainingCluster cluster(2, 2);
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  ModelSpec mlp;
  mlp.kind = ModelKind::kMlp;
  mlp.hidden = {64};
  auto graph = BuildBuiltinGraph(mlp, &registry);
  REQUIRE(graph.ok());
  (*graph)->roles().metrics.push_back({"mean_loss", "mean", {(*graph)->roles().loss}});
  const std::string graph_path = cluster.dir() + "/model.graph";
  REQUIRE(WriteGraphFile(**graph, graph_path).ok());
  std::string job = cluster.WriteJob("graph.yaml", kSync2, 300);
  std::string text = Slurp(job);
  text.replace(text.find("model:"), text.find("data:") - text.find("model:"), "model:\n  graph_file: model.graph\n");
  std::ofstream(job) << text;
  auto bytes = ReadModelGraphFile(graph_path);
  REQUIRE(bytes.ok());
  REQUIRE(SubmitJob(cluster.io(), cluster.spec(), text, job, kCallTimeout, *bytes).ok());
  std::filesystem::remove(graph_path);  // the workers start after this: they cannot read it
  WorkerJobStatus end = cluster.WaitJobEnd(std::chrono::seconds(90));
  INFO(cluster.Logs());
  REQUIRE(end.state == JobState::kDone);
  CHECK(end.test_accuracy >= 0.80);
  CHECK(end.test_metrics.count("mean_loss") == 1);
  CHECK(end.test_metrics.at("mean_loss") == Approx(end.test_metrics.at("loss")));
  CHECK(cluster.Workers()[1].job.local_steps >= 290);
}

TEST_CASE("a graph that is not a complete model is refused at submission, naming the node", "[e2e]") {
  TrainingCluster cluster(1, 1);
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  Graph g(&registry);
  Output x = Placeholder(g, DType::kFloat32, Shape{-1, 784}, "x");
  Output w = Variable(g, "W", Shape{784, 10});  // no initializer
  g.roles().inputs = {{x.node, "features"}};
  g.roles().loss = ReduceMean(MatMul(x, w));
  REQUIRE(g.status().ok());
  const std::string graph_path = cluster.dir() + "/bad.graph";
  REQUIRE(WriteGraphFile(g, graph_path).ok());
  std::string job = cluster.WriteJob("bad.yaml", "  type: sync\n  total_workers: 1\n", 10);
  std::string text = Slurp(job);
  text.replace(text.find("model:"), text.find("data:") - text.find("model:"), "model:\n  graph_file: bad.graph\n");
  std::ofstream(job) << text;
  CHECK_THAT(ReadModelGraphFile(graph_path).status().message(), Catch::Contains("node 'W'"));
  // A client that sends no bytes: the chief reads the file and refuses it the same way.
  Status refused = SubmitJob(cluster.io(), cluster.spec(), text, job, kCallTimeout);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.message(), Catch::Contains("node 'W'") && Catch::Contains("has no initializer"));
}

// ---- Faults: checkpoints restored as one, a lost chief, a faulty disk (issue #13).

namespace {

// The complete checkpoints of `dir` (a step-N folder with a MANIFEST), newest first.
std::vector<int64_t> CompleteCheckpointSteps(const std::string& dir) {
  std::vector<int64_t> steps;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("step-", 0) == 0 && std::filesystem::exists(e.path() / "MANIFEST"))
      steps.push_back(std::stoll(name.substr(5)));
  }
  std::sort(steps.rbegin(), steps.rend());
  return steps;
}

// The checkpoint named by the last "restored checkpoint N" line of a ps log (-1: none).
int64_t LastRestored(const std::string& log) {
  const std::string key = "restored checkpoint ";
  const size_t at = log.rfind(key);
  return at == std::string::npos ? -1 : std::stoll(log.substr(at + key.size()));
}

// Runs `flowps status --cluster ... [--json]`; its output.
// The sum of every `"field":N` in `json` (e.g. a counter over the ps shards of `flowps status --json`).
int64_t SumOfJsonField(const std::string& json, const std::string& field) {
  const std::string key = "\"" + field + "\":";
  int64_t total = 0;
  for (size_t at = json.find(key); at != std::string::npos; at = json.find(key, at + 1))
    total += std::stoll(json.substr(at + key.size()));
  return total;
}

std::string FlowpsStatus(TrainingCluster& cluster, bool json) {
  const std::string out = cluster.dir() + (json ? "/status-json.out" : "/status.out");
  std::filesystem::remove(out);
  std::vector<std::string> args = {std::string(FLOWPS_BIN_DIR) + "/flowps", "status", "--cluster", cluster.spec().path};
  if (json) args.push_back("--json");
  Process status(args, out);
  status.Wait(std::chrono::seconds(30));
  return Slurp(out);
}

}  // namespace

TEST_CASE("job setup waits for a ps that starts late, trying again until it answers, and the job trains", "[e2e]") {
  TrainingCluster cluster(1, 2);
  cluster.Kill9("ps", 0);
  const std::string job = cluster.WriteJob("late.yaml", kAsync2, 60);
  REQUIRE(cluster.Submit(job).ok());
  std::this_thread::sleep_for(std::chrono::seconds(4));  // more than the 3 s one connect try waits
  cluster.Start("ps", 0);
  const WorkerJobStatus end = cluster.WaitJobEnd(std::chrono::seconds(120));
  INFO(cluster.Logs());
  CHECK(end.state == JobState::kDone);
  // Async with 2 workers: the other worker's push in flight when step 60 is
  // reached is applied too (as in TensorFlow's async training).
  CHECK(end.global_step >= 60);
  CHECK(end.global_step <= 61);
  CHECK_THAT(Slurp(cluster.dir() + "/worker0.log"), Catch::Contains("trying again in"));
}

TEST_CASE("an async job with prefetch has every push applied: none dropped as a duplicate, the global step counts "
          "them all", "[e2e]") {
  TrainingCluster cluster(1, 2);
  const std::string job = cluster.WriteJob("prefetch.yaml", std::string(kAsync2) + "  prefetch: true\n", 200);
  REQUIRE(cluster.Submit(job).ok());
  const WorkerJobStatus end = cluster.WaitJobEnd(std::chrono::seconds(120));
  INFO(cluster.Logs());
  REQUIRE(end.state == JobState::kDone);
  const std::vector<WorkerReport> workers = cluster.Workers();
  const std::string json = FlowpsStatus(cluster, true);
  INFO(json);
  // Two pushes computed from the same parameters (prefetch) are told apart by
  // their seq: both applied, so the global step moves once per push made.
  CHECK(SumOfJsonField(json, "duplicate") == 0);
  CHECK(SumOfJsonField(json, "stale") == 0);
  const int64_t applied = SumOfJsonField(json, "applied");
  CHECK(applied >= 200);
  CHECK(applied <= 203);  // the other worker's pushes in flight at the end (prefetch: up to one more each)
  int64_t pushed = 0;
  for (const WorkerReport& w : workers) pushed += w.job.local_steps;
  CHECK(pushed <= applied);  // before the fix about half the pushes were dropped: pushed ~ 2 x applied
  CHECK(pushed >= 200 - 2);
}

TEST_CASE("a ps serves successive jobs: an async adam job, then a sync sgd job with another model, each to its end",
          "[e2e]") {
  TrainingCluster cluster(1, 2);
  const std::string first = cluster.WriteJob("first.yaml", kAsync2, 60);
  REQUIRE(cluster.Submit(first).ok());
  INFO(cluster.Logs());
  REQUIRE(cluster.WaitJobEnd(std::chrono::seconds(90)).state == JobState::kDone);

  const std::string second = cluster.WriteJob("second.yaml", kSync2, 50);
  std::string text = Replaced(Slurp(second), "hidden: [64]", "hidden: [32]");
  std::ofstream(second) << Replaced(text, "type: adam\n  learning_rate: 0.002", "type: sgd\n  learning_rate: 0.1");
  const std::string out = cluster.dir() + "/second.out";
  CHECK(Flowps({"submit", second, "--cluster", cluster.spec().path}, out, std::chrono::seconds(60)) == 0);
  INFO(Slurp(out));
  CHECK_THAT(Slurp(out), Catch::Contains("accepted by the chief"));
  const WorkerJobStatus end = cluster.WaitJobEnd(std::chrono::seconds(90));
  CHECK(end.job == "second");
  CHECK(end.state == JobState::kDone);
  CHECK(end.global_step == 50);  // the second job's own steps, not the first job's step carried over
  CHECK(end.test_accuracy >= 0.5);
}

TEST_CASE("a job a ps shard refuses fails flowps submit without --wait, and flowps status shows it failed", "[e2e]") {
  TrainingCluster cluster(1, 2);
  const std::string checkpoints = "checkpoint:\n  dir: " + cluster.dir() + "/ckpt\n  every_steps: 1000\n";
  REQUIRE(cluster.Submit(cluster.WriteJob("wide.yaml", kAsync2, 40, checkpoints)).ok());
  INFO(cluster.Logs());
  REQUIRE(cluster.WaitJobEnd(std::chrono::seconds(90)).state == JobState::kDone);

  // The same checkpoint dir holds hidden [64] variables: the shard refuses hidden [32].
  const std::string narrow = cluster.WriteJob("narrow.yaml", kAsync2, 40, checkpoints);
  const std::string narrowed = Replaced(Slurp(narrow), "hidden: [64]", "hidden: [32]");
  std::ofstream(narrow) << narrowed;
  const std::string out = cluster.dir() + "/narrow.out";
  CHECK(Flowps({"submit", narrow, "--cluster", cluster.spec().path}, out, std::chrono::seconds(60)) == 1);
  INFO(Slurp(out));
  CHECK_THAT(Slurp(out), Catch::Contains("job 'narrow' failed") && Catch::Contains("exists with shape"));
  CHECK_THAT(Slurp(out), !Catch::Contains("accepted"));

  const std::string status = cluster.dir() + "/status.out";
  Flowps({"status", "--cluster", cluster.spec().path}, status, std::chrono::seconds(30));
  CHECK_THAT(Slurp(status), Catch::Contains("job 'narrow' failed") && Catch::Contains("error: ") &&
                                Catch::Contains("exists with shape"));
}

TEST_CASE("flowps stop stops the running job: the workers stop, a final checkpoint is written, the state is stopped",
          "[e2e]") {
  TrainingCluster cluster(1, 2);
  // Only the final checkpoint: the policy's is far away.
  const std::string job = cluster.WriteJob("long.yaml", kAsync2, 100000,
                                           "checkpoint:\n  dir: " + cluster.dir() + "/ckpt\n  every_steps: 100000\n");
  REQUIRE(cluster.Submit(job).ok());
  INFO(cluster.Logs());
  REQUIRE(cluster.WaitUntil([](const auto& r) { return r[0].job.global_step >= 40; }, std::chrono::seconds(60)));
  const std::string out = cluster.dir() + "/stop.out";
  CHECK(Flowps({"stop", "--cluster", cluster.spec().path}, out, std::chrono::seconds(60)) == 0);
  INFO(Slurp(out));
  CHECK_THAT(Slurp(out), Catch::Contains("job 'long' stopped at global step"));
  const std::vector<WorkerReport> after = cluster.Workers();
  CHECK(after[0].job.state == JobState::kStopped);
  CHECK(after[1].job.state == JobState::kStopped);
  const int64_t stopped_at = after[0].job.global_step;

  // The same job submitted again resumes from the checkpoint written at the stop.
  REQUIRE(cluster.Submit(job).ok());
  REQUIRE(cluster.WaitUntil([](const auto& r) { return r[0].job.state == JobState::kRunning; },
                            std::chrono::seconds(60)));
  CHECK(cluster.Chief().resumed_from >= stopped_at);
  CHECK(Flowps({"stop", "--cluster", cluster.spec().path}, out, std::chrono::seconds(60)) == 0);
}

TEST_CASE("job setup gives up on a ps that never answers after setup_timeout_s, and flowps submit says why", "[e2e]") {
  TrainingCluster cluster(1, 2);
  cluster.Kill9("ps", 0);
  // The chief reads setup_timeout_s when it starts: give it 3 s and start it again.
  const std::string spec = cluster.spec().path;
  const std::string text = Slurp(spec);
  std::ofstream(spec) << "setup_timeout_s: 3\n" << text;
  cluster.Kill9("worker", 0);
  cluster.Start("worker", 0);
  REQUIRE(cluster.WaitUntil([](const auto& r) { return r[0].status.ok(); }, std::chrono::seconds(30)));

  const std::string out = cluster.dir() + "/submit.out";
  const auto asked = std::chrono::steady_clock::now();
  CHECK(Flowps({"submit", cluster.WriteJob("never.yaml", kAsync2, 60), "--cluster", spec}, out,
               std::chrono::seconds(60)) == 1);
  CHECK(std::chrono::steady_clock::now() - asked < std::chrono::seconds(30));
  INFO(Slurp(out) << cluster.Logs());
  CHECK_THAT(Slurp(out), Catch::Contains("job 'never' failed") &&
                             Catch::Contains("the ps shards could not be reached and configured in") &&
                             Catch::Contains("setup_timeout_s 3"));
  CHECK(cluster.Chief().state == JobState::kFailed);
}

TEST_CASE("with the newest checkpoint corrupt on one shard, every shard restores the newest one valid on all",
          "[e2e]") {
  auto cluster = std::make_unique<TrainingCluster>(2, 2);
  const std::string checkpoints = cluster->dir() + "/checkpoints";
  const std::string job =
      cluster->WriteJob("torn.yaml", kSync2, 400, "checkpoint:\n  dir: " + checkpoints + "\n  every_steps: 50\n");
  REQUIRE(cluster->Submit(job).ok());
  INFO(cluster->Logs());
  REQUIRE(cluster->WaitUntil([](const auto& r) { return r[0].job.global_step >= 160; }, std::chrono::seconds(60)));
  cluster->KillAll();
  const std::vector<int64_t> complete = CompleteCheckpointSteps(checkpoints);
  REQUIRE(complete.size() >= 2);
  const int64_t newest = complete[0], older = complete[1];
  // One byte of shard 1's file of the newest checkpoint is changed.
  {
    std::fstream f(checkpoints + "/step-" + std::to_string(newest) + "/shard-1.ckpt",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x55');
  }
  for (int i = 0; i < 2; ++i) cluster->Start("ps", i);
  for (int i = 0; i < 2; ++i) cluster->Start("worker", i);
  cluster->WaitHealthy();
  REQUIRE(cluster->Submit(job).ok());
  WorkerJobStatus end = cluster->WaitJobEnd(std::chrono::seconds(90));
  REQUIRE(end.state == JobState::kDone);
  CHECK(end.resumed_from == older);
  // Both shards restored the older one last: shard 0, whose newest file is sound, too.
  CHECK(LastRestored(Slurp(cluster->dir() + "/ps0.log")) == older);
  CHECK(LastRestored(Slurp(cluster->dir() + "/ps1.log")) == older);
  CHECK_THAT(Slurp(cluster->dir() + "/worker0.log"),
             Catch::Contains("every ps shard restored checkpoint " + std::to_string(older)) &&
                 Catch::Contains("checkpoint " + std::to_string(newest) + " cannot be restored on every ps shard"));
  CHECK(end.global_step == 400);
  // flowps status says which checkpoint the job resumed from.
  CHECK_THAT(FlowpsStatus(*cluster, false), Catch::Contains("resumed from checkpoint " + std::to_string(older)));
  CHECK_THAT(FlowpsStatus(*cluster, true), Catch::Contains("\"resumed_from\":" + std::to_string(older)));
}

TEST_CASE("after kill -9 of one ps shard the chief rolls every shard back to one checkpoint, the shard that never "
          "restarted too, and the job goes on", "[e2e]") {
  TrainingCluster cluster(2, 2);
  const std::string checkpoints = cluster.dir() + "/checkpoints";
  const std::string job =
      cluster.WriteJob("pskill.yaml", kSync2, 100000, "checkpoint:\n  dir: " + checkpoints + "\n  every_steps: 50\n");
  REQUIRE(cluster.Submit(job).ok());
  INFO(cluster.Logs());
  // Killed between two checkpoints (every 50 steps), well past the newest.
  REQUIRE(cluster.WaitUntil(
      [](const auto& r) { return r[0].job.global_step >= 130 && r[0].job.global_step % 50 >= 10 && r[0].job.global_step % 50 <= 40; },
      std::chrono::seconds(60)));
  cluster.Kill9("ps", 1);
  const int64_t newest = CompleteCheckpointSteps(checkpoints).at(0);
  const int64_t at_kill = cluster.Chief().global_step;
  CHECK(at_kill > newest);  // shard 0 trains on past the newest checkpoint
  CHECK(LastRestored(Slurp(cluster.dir() + "/ps0.log")) == -1);
  cluster.Start("ps", 1);

  // The restarted shard lost its state: the chief rolls both shards back, never training on shards apart.
  REQUIRE(cluster.WaitUntil(
      [newest](const auto& r) {
        return r[0].status.ok() && r[0].job.state == JobState::kRunning && r[0].job.resumed_from == newest;
      },
      std::chrono::seconds(90)));
  CHECK_THAT(Slurp(cluster.dir() + "/worker0.log"),
             Catch::Contains("rolling every ps shard back") &&
                 Catch::Contains("every ps shard restored checkpoint " + std::to_string(newest)));
  // Shard 0 (live at a later step) was rolled back to the same checkpoint as shard 1.
  CHECK(LastRestored(Slurp(cluster.dir() + "/ps0.log")) == newest);
  CHECK(LastRestored(Slurp(cluster.dir() + "/ps1.log")) == newest);
  // Both workers train on from there.
  CHECK(cluster.WaitUntil(
      [newest](const auto& r) {
        return r[0].job.global_step >= newest + 30 && r[1].status.ok() && r[1].job.state == JobState::kRunning;
      },
      std::chrono::seconds(60)));
  CHECK(cluster.StopWorker(0).ok());
}

TEST_CASE("after kill -9 of the chief the other workers stop within seconds, failed with the reason; a job submitted "
          "to the restarted chief runs", "[e2e]") {
  TrainingCluster cluster(1, 2);
  const std::string job = cluster.WriteJob("chiefkill.yaml", kSync2, 100000);
  REQUIRE(cluster.Submit(job).ok());
  INFO(cluster.Logs());
  REQUIRE(cluster.WaitUntil([](const auto& r) { return r[1].status.ok() && r[1].job.local_steps >= 20; },
                            std::chrono::seconds(60)));
  cluster.Kill9("worker", 0);
  const auto killed = std::chrono::steady_clock::now();
  // Worker 1 waits in a sync step that the chief's push would complete: it must not wait forever.
  REQUIRE(cluster.WaitUntil(
      [](const auto& r) { return r[1].status.ok() && r[1].job.state == JobState::kFailed; }, std::chrono::seconds(30)));
  CHECK(std::chrono::steady_clock::now() - killed < std::chrono::seconds(30));
  CHECK_THAT(cluster.Workers()[1].job.error, Catch::Contains("chief worker 0 lost"));
  const std::string table = FlowpsStatus(cluster, false);
  CHECK_THAT(table, Catch::Contains("does not answer") && Catch::Contains("DOWN") &&
                        Catch::Contains("failed") && Catch::Contains("chief worker 0 lost"));
  CHECK_THAT(table, !Catch::Contains("running"));
  CHECK_THAT(FlowpsStatus(cluster, true), Catch::Contains("\"state\":\"unreachable\"") &&
                                              Catch::Contains("\"error\":\"chief worker 0 lost"));

  cluster.Start("worker", 0);
  cluster.WaitHealthy();
  REQUIRE(cluster.Submit(job).ok());
  REQUIRE(cluster.WaitUntil(
      [](const auto& r) { return r[1].status.ok() && r[1].job.state == JobState::kRunning && r[1].job.local_steps >= 10; },
      std::chrono::seconds(60)));

  // A chief killed and restarted at once answers, but idle: the others stop too.
  cluster.Kill9("worker", 0);
  cluster.Start("worker", 0);
  REQUIRE(cluster.WaitUntil(
      [](const auto& r) { return r[1].status.ok() && r[1].job.state == JobState::kFailed; }, std::chrono::seconds(30)));
  CHECK_THAT(cluster.Workers()[1].job.error, Catch::Contains("chief worker 0 lost: it no longer runs this job"));
}

namespace {

// A small tmpfs mounted on `path` (root only), unmounted at the end; `ok` false when it could not be mounted.
struct SmallDisk {
  SmallDisk(const std::string& path, const std::string& size) : path(path) {
    std::filesystem::create_directories(path);
    ok = ::geteuid() == 0 && ::mount("tmpfs", path.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  }
  ~SmallDisk() {
    if (ok) ::umount2(path.c_str(), MNT_DETACH);
  }
  // Writes zeros to <path>/filler until the disk is full.
  void Fill() {
    const int fd = ::open((path + "/filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char> block(1 << 16, 0);
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    ::close(fd);
  }
  void Free() { std::filesystem::remove(path + "/filler"); }
  std::string path;
  bool ok = false;
};

}  // namespace

TEST_CASE("a checkpoint that fails on a full disk is logged and counted, leaves no partial file, keeps the previous "
          "one, and is retried at the next interval while training goes on", "[e2e]") {
  TrainingCluster cluster(1, 2);
  SmallDisk disk(cluster.dir() + "/disk", "8m");
  if (!disk.ok) {
    WARN("skipped: mounting a small tmpfs needs root");
    return;
  }
  const std::string job =
      cluster.WriteJob("full.yaml", kSync2, 100000, "checkpoint:\n  dir: " + disk.path + "\n  every_steps: 20\n");
  REQUIRE(cluster.Submit(job).ok());
  INFO(cluster.Logs());
  REQUIRE(cluster.WaitUntil([](const auto& r) { return r[0].job.last_checkpoint >= 20; }, std::chrono::seconds(60)));

  disk.Fill();
  const WorkerJobStatus full = cluster.Chief();
  REQUIRE(cluster.WaitUntil([](const auto& r) { return r[0].job.checkpoint_failures >= 2; },
                            std::chrono::seconds(60)));
  const WorkerJobStatus failing = cluster.Chief();
  CHECK(failing.state == JobState::kRunning);
  CHECK(failing.global_step >= full.global_step + 30);  // trained on through the failures
  CHECK_THAT(Slurp(cluster.dir() + "/worker0.log"),
             Catch::Contains("failed (1 so far); training goes on") && Catch::Contains("No space left on device"));
  // The previous checkpoint is the newest complete one.
  const std::vector<int64_t> complete = CompleteCheckpointSteps(disk.path);
  REQUIRE_FALSE(complete.empty());
  CHECK(complete[0] == failing.last_checkpoint);
  CHECK_THAT(FlowpsStatus(cluster, true), Catch::Contains("\"checkpoint_failures\":"));

  // Space again: the next interval's checkpoint is written.
  disk.Free();
  const int64_t before = failing.last_checkpoint;
  CHECK(cluster.WaitUntil([before](const auto& r) { return r[0].job.last_checkpoint > before; },
                          std::chrono::seconds(60)));
  CHECK(CompleteCheckpointSteps(disk.path).at(0) > before);
  REQUIRE(cluster.StopWorker(0).ok());  // returns once the chief's job ended: no checkpoint round is in flight
  // The failed rounds left nothing behind: no temp file, no step folder without its MANIFEST (a shard
  // removes an incomplete older round's files when it writes the next; while training, a round in
  // flight is legitimately incomplete, so this is checked once the job ended).
  for (const auto& e : std::filesystem::recursive_directory_iterator(disk.path)) {
    INFO(e.path());
    CHECK(e.path().extension() != ".tmp");
    if (e.is_directory()) CHECK(std::filesystem::exists(e.path() / "MANIFEST"));
  }
}

TEST_CASE("a job whose checkpoint.dir cannot be written fails before its first step, and submit --wait names the "
          "path and the reason", "[e2e]") {
  TrainingCluster cluster(1, 2);
  std::ofstream(cluster.dir() + "/not-a-dir") << "x";
  const std::string dir = cluster.dir() + "/not-a-dir/checkpoints";
  const std::string job =
      cluster.WriteJob("unwritable.yaml", kSync2, 200, "checkpoint:\n  dir: " + dir + "\n  every_steps: 50\n");
  const std::string out = cluster.dir() + "/submit.out";
  const int status = SubmitAndWait(cluster, job, out, std::chrono::seconds(60));
  INFO(Slurp(out) << cluster.Logs());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK_THAT(Slurp(out), Catch::Contains("checkpoint.dir '" + dir + "' is not writable") &&
                             Catch::Contains("Not a directory"));
  const WorkerJobStatus chief = cluster.WaitJobEnd(std::chrono::seconds(30));
  CHECK(chief.state == JobState::kFailed);
  CHECK(chief.global_step == 0);
}

TEST_CASE("1 ps and 2 workers train the built-in lstm_lm on fortunes to a held-out perplexity well below the "
          "unigram baseline, and the chief reports a sample", "[e2e]") {
  const std::string train = "/usr/share/games/fortunes/cookie", test = "/usr/share/games/fortunes/fortunes";
  REQUIRE(std::filesystem::exists(test));  // the package fortunes (scripts/install-deps.sh)
  TrainingCluster cluster(1, 2);
  const std::string path = cluster.dir() + "/lstm.yaml";
  std::ofstream(path) << "name: lstm\n"
                      << "model:\n  type: lstm_lm\n  embedding: 32\n  layers: 2\n  hidden_size: 128\n"
                      << "  softmax_parts: 2\n  seed: 1\n"
                      << "data:\n  format: text\n  train: " << train << "\n  test: " << test
                      << "\n  sequence_length: 32\n  batch_size: 32\n  seed: 1\n"
                      << "optimizer:\n  type: adam\n  learning_rate: 0.02\n  clip_norm: 5\n"
                      << "mode:\n" << kSync2 << "train:\n  steps: 300\n  log_every_steps: 50\n";
  REQUIRE(cluster.Submit(path).ok());
  const WorkerJobStatus chief = cluster.WaitJobEnd(std::chrono::seconds(600));
  INFO(cluster.Logs());
  REQUIRE(chief.state == JobState::kDone);
  const double unigram = UnigramPerplexity(Slurp(test));
  REQUIRE(chief.test_metrics.count("perplexity") == 1);
  const double trained = chief.test_metrics.at("perplexity");
  WARN("unigram perplexity " << unigram << ", trained " << trained << ", sample:\n" << chief.sample);
  CHECK(unigram > 15);
  CHECK(trained < 0.5 * unigram);  // measured 10.1 against 24.0 (0.42) here, load average 18
  CHECK(chief.sample.size() == 300);
  CHECK_THAT(Slurp(cluster.dir() + "/worker0.log"), Catch::Contains("sample of the trained model"));
}

// ---- Model parallelism (issue #15): each worker one replica over its devices.

namespace {

// A layered LSTM over Fashion-MNIST (4 steps of 196 pixels), layer d asking
// for /device:cpu:d, as a graph job of `steps` sync steps on 2 workers.
std::string WriteLayeredLstmJob(TrainingCluster& cluster, int64_t steps) {
  OpRegistry registry;
  REQUIRE(RegisterStandardOps(&registry).ok());
  auto graph = BuildLayeredLstm(LayeredLstmOptions{}, &registry);
  REQUIRE(graph.ok());
  REQUIRE(WriteGraphFile(**graph, cluster.dir() + "/lstm.graph").ok());
  std::string job = cluster.WriteJob("lstm.yaml", kSync2, steps);
  std::string text = Slurp(job);
  text.replace(text.find("model:"), text.find("data:") - text.find("model:"), "model:\n  graph_file: lstm.graph\n");
  text.replace(text.find("learning_rate: 0.002"), 20, "learning_rate: 0.01");
  std::ofstream(job) << text;
  return job;
}

}  // namespace

TEST_CASE("a model-parallel LSTM trains on 1 ps and 2 workers of 4 devices each, each worker one replica over its "
          "devices", "[e2e]") {
  TrainingCluster cluster(1, 2, "[cpu:0, cpu:1, cpu:2, cpu:3]");
  const std::string job = WriteLayeredLstmJob(cluster, 200);
  REQUIRE(SubmitJob(cluster.io(), cluster.spec(), Slurp(job), job, kCallTimeout,
                    *ReadModelGraphFile(cluster.dir() + "/lstm.graph"))
              .ok());
  WorkerJobStatus end = cluster.WaitJobEnd(std::chrono::seconds(180));
  INFO(cluster.Logs());
  REQUIRE(end.state == JobState::kDone);
  CHECK(end.test_accuracy >= 0.6);  // 10 classes: chance is 0.1
  CHECK(cluster.Workers()[1].job.local_steps >= 190);
  CHECK_THAT(cluster.Logs(), Catch::Contains("one model-parallel replica on /job:worker/task:1/device:cpu:0, "
                                             "/job:worker/task:1/device:cpu:1, /job:worker/task:1/device:cpu:2, "
                                             "/job:worker/task:1/device:cpu:3"));
}

TEST_CASE("a model-parallel job whose layers ask for devices the workers lack fails at its start, naming the node "
          "and the worker; with model.soft_placement it trains", "[e2e]") {
  TrainingCluster cluster(1, 2, "[cpu:0, cpu:1]");
  const std::string job = WriteLayeredLstmJob(cluster, 20);
  const std::string bytes = *ReadModelGraphFile(cluster.dir() + "/lstm.graph");
  Status submitted = SubmitJob(cluster.io(), cluster.spec(), Slurp(job), job, kCallTimeout, bytes);
  WorkerJobStatus end = cluster.WaitJobEnd(std::chrono::seconds(60));
  INFO(cluster.Logs());
  REQUIRE(end.state == JobState::kFailed);
  CHECK_THAT(submitted.ok() ? end.error : submitted.message(),
             Catch::Contains("node 'layer2/") && Catch::Contains("'/device:cpu:2'") &&
                 Catch::Contains("/job:worker/task:0 lacks") && Catch::Contains("model.soft_placement"));
  CHECK(end.local_steps == 0);

  std::string text = Slurp(job);
  text.replace(text.find("  graph_file:"), 0, "  soft_placement: true\n");
  std::ofstream(job) << text;
  REQUIRE(SubmitJob(cluster.io(), cluster.spec(), text, job, kCallTimeout, bytes).ok());
  end = cluster.WaitJobEnd(std::chrono::seconds(120));
  REQUIRE(end.state == JobState::kDone);
  CHECK_THAT(cluster.Logs(), Catch::Contains("soft placement: node 'tower0/layer3/"));
}

// A synthetic click log in <cluster dir>/ctr and the wide_deep job on it
// (`epochs` epochs, `extra` yaml appended), written to <cluster dir>/`file`.
std::string WriteWideDeepJob(TrainingCluster& cluster, const std::string& file, int epochs,
                             const std::string& extra, double* best_auc) {
  data::SynthCtrOptions ctr;
  ctr.examples = 60000;
  ctr.ids = 1000;
  ctr.fields = 8;
  ctr.seed = 3;
  StatusOr<data::SynthCtrResult> logs = data::WriteSynthCtr(ctr, cluster.dir() + "/ctr");
  REQUIRE(logs.ok());
  *best_auc = logs->hidden_model_test_auc;
  const std::string path = cluster.dir() + "/" + file;
  std::ofstream(path) << "name: wide-deep\nmodel:\n  type: wide_deep\n  hidden: [16]\n  seed: 1\n"
                      << "data:\n  format: libsvm\n  train: ctr/train.libsvm\n  test: ctr/test.libsvm\n"
                      << "  batch_size: 256\n  seed: 1\n"
                      << "optimizer:\n  type: adam\n  learning_rate: 0.01\n"
                      << "tables:\n"
                      << "  wide:\n    dim: 1\n"
                      << "    optimizer: {type: ftrl, learning_rate: 0.2, l2: 0.001, initial_accumulator: 0.001}\n"
                      << "  deep:\n    dim: 8\n    initializer: {type: normal, stddev: 0.05, seed: 7}\n"
                      << "    optimizer: {type: adagrad, learning_rate: 0.02, initial_accumulator: 0.01}\n"
                      << "mode:\n" << kSync2 << "train:\n  epochs: " << epochs << "\n  log_every_steps: 50\n"
                      << extra;
  return path;
}

TEST_CASE("wide_deep trains on a synthetic click log on 2 ps and 2 workers to within 0.02 of the generator's "
          "best AUC", "[e2e]") {
  TrainingCluster cluster(2, 2);
  double best_auc = 0;
  const std::string path = WriteWideDeepJob(cluster, "wide_deep.yaml", 4, "", &best_auc);
  REQUIRE(cluster.Submit(path).ok());
  WorkerJobStatus end = cluster.WaitJobEnd(std::chrono::seconds(110));
  INFO(cluster.Logs());
  REQUIRE(end.state == JobState::kDone);
  REQUIRE(end.test_metrics.count("auc") == 1);
  INFO("test auc " << end.test_metrics.at("auc") << ", the generator's best " << best_auc);
  CHECK(end.test_metrics.at("auc") >= best_auc - 0.02);
  CHECK(end.test_metrics.count("log_loss") == 1);
  CHECK(end.test_accuracy < 0);  // no accuracy metric: reported as such, not as -1%
  // Both ps shards hold rows of both tables, created on first sight.
  auto workers = cluster.Workers();
  CHECK(workers[1].job.local_steps > 100);
  CHECK_THAT(cluster.Logs(), Catch::Contains("embedding table 'deep' created: dim 8, optimizer adagrad"));
  CHECK_THAT(cluster.Logs(), Catch::Contains("test auc "));
  // One round trip per shard and step: the rows of each batch but a worker's first came with the push before it.
  const std::string json = FlowpsStatus(cluster, true);
  INFO(json);
  const int64_t lookup_calls = SumOfJsonField(json, "table_lookup_calls");
  const int64_t reads_with_push = SumOfJsonField(json, "table_reads_with_push");
  CHECK(lookup_calls >= 1);
  CHECK(lookup_calls <= 4);  // each worker's first step, on each of the 2 shards
  CHECK(reads_with_push >= 2 * workers[1].job.local_steps);  // on both shards, every step but the last

  // flowps status shows each table: rows on both shards, admissions, hot keys.
  for (const char* format : {"", "--json"}) {
    std::vector<std::string> args = {std::string(FLOWPS_BIN_DIR) + "/flowps", "status", "--cluster", cluster.spec().path};
    if (*format != '\0') args.push_back(format);
    Process status(args, cluster.dir() + "/status" + format + ".out");
    REQUIRE(WIFEXITED(status.Wait(std::chrono::seconds(30))));
    const std::string out = Slurp(cluster.dir() + "/status" + format + ".out");
    INFO(out);
    if (*format == '\0') {
      CHECK_THAT(out, Catch::Contains("embedding tables:"));
      const size_t deep = out.find("\n  deep ");
      REQUIRE(deep != std::string::npos);
      const std::string line = out.substr(deep + 1, out.find('\n', deep + 1) - deep - 1);
      CHECK_THAT(line, Catch::Contains("dim 8") && Catch::Contains("on 2 shard(s)"));
      CHECK_THAT(line, !Catch::Contains("rows 0 ") && !Catch::Contains("admitted 0 "));
      const std::string hot = "hot keys (key:lookups this window): ";
      REQUIRE(out.find(hot, deep) != std::string::npos);
      CHECK(out.compare(out.find(hot, deep) + hot.size(), 2, "-\n") != 0);  // "-" when there are none
    } else {
      CHECK_THAT(out, Catch::Contains("\"tables\":[{\"table\":\"deep\",\"dim\":8,\"rows\":"));
      CHECK_THAT(out, Catch::Contains("\"table\":\"wide\",\"dim\":1,"));
      CHECK_THAT(out, Catch::Contains("\"hot_keys\":[{\"key\":"));
    }
  }
}

namespace {
// The rows of `table` on every ps shard together, from flowps status --json.
int64_t TableRowsInStatus(TrainingCluster& cluster, const std::string& table) {
  const std::string out = FlowpsStatus(cluster, true);
  const std::string key = "\"table\":\"" + table + "\",";
  const size_t at = out.find(key);
  REQUIRE(at != std::string::npos);
  const size_t rows = out.find("\"rows\":", at);
  REQUIRE(rows != std::string::npos);
  return std::stoll(out.substr(rows + 7));
}

// The rows of `table` the ps logs say were restored from checkpoint `step`, summed over the shards.
int64_t RestoredTableRows(const std::string& logs, const std::string& table, int64_t step) {
  const std::string head = "embedding table '" + table + "': ";
  const std::string tail = " rows restored from checkpoint " + std::to_string(step) + "\n";
  int64_t total = 0;
  for (size_t at = logs.find(head); at != std::string::npos; at = logs.find(head, at + 1)) {
    const size_t end = logs.find('\n', at);
    const std::string line = logs.substr(at, end - at + 1);
    if (line.size() > head.size() + tail.size() && line.compare(line.size() - tail.size(), tail.size(), tail) == 0)
      total += std::stoll(line.substr(head.size()));
  }
  return total;
}
}  // namespace

TEST_CASE("a wide_deep job stopped and submitted again after a full restart gets its table rows back from the "
          "checkpoint (a full table file and increments)", "[e2e]") {
  auto cluster = std::make_unique<TrainingCluster>(2, 2);
  double best_auc = 0;
  const std::string job = WriteWideDeepJob(
      *cluster, "wide_deep.yaml", 3,
      "checkpoint:\n  dir: " + cluster->dir() + "/ckpt\n  every_steps: 40\n  table_full_every: 3\n", &best_auc);
  REQUIRE(cluster->Submit(job).ok());
  INFO(cluster->Logs());
  REQUIRE(cluster->WaitUntil([](const auto& r) { return r[0].job.global_step >= 150; }, std::chrono::seconds(90)));
  const std::string out = cluster->dir() + "/stop.out";
  REQUIRE(Flowps({"stop", "--cluster", cluster->spec().path}, out, std::chrono::seconds(60)) == 0);
  const int64_t stopped_at = cluster->Chief().global_step;
  const int64_t deep_rows = TableRowsInStatus(*cluster, "deep");
  const int64_t wide_rows = TableRowsInStatus(*cluster, "wide");
  CHECK(deep_rows > 0);
  // Checkpoints 40, 80, 120 and the stop's: a full table file, then increments.
  CHECK(std::filesystem::exists(cluster->dir() + "/ckpt/tables/deep/step-40.full/shard-0-of-2.rows"));
  CHECK(std::filesystem::exists(cluster->dir() + "/ckpt/tables/deep/step-80.incr/shard-1-of-2.rows"));
  CHECK(std::filesystem::exists(cluster->dir() + "/ckpt/tables/wide/step-120.incr/shard-0-of-2.rows"));

  cluster->KillAll();
  for (int i = 0; i < 2; ++i) cluster->Start("ps", i);
  for (int i = 0; i < 2; ++i) cluster->Start("worker", i);
  cluster->WaitHealthy();
  REQUIRE(cluster->Submit(job).ok());
  REQUIRE(cluster->WaitUntil([](const auto& r) { return r[0].job.state == JobState::kRunning; },
                             std::chrono::seconds(60)));
  const int64_t resumed = cluster->Chief().resumed_from;
  CHECK(resumed >= stopped_at);  // the stop's final checkpoint
  // Every row of both tables came back, spread over the 2 shards by key.
  CHECK(RestoredTableRows(cluster->Logs(), "deep", resumed) == deep_rows);
  CHECK(RestoredTableRows(cluster->Logs(), "wide", resumed) == wide_rows);
  WorkerJobStatus end = cluster->WaitJobEnd(std::chrono::seconds(120));
  REQUIRE(end.state == JobState::kDone);
  REQUIRE(end.test_metrics.count("auc") == 1);
  INFO("test auc " << end.test_metrics.at("auc") << ", the generator's best " << best_auc);
  CHECK(end.test_metrics.at("auc") >= best_auc - 0.03);
  CHECK(TableRowsInStatus(*cluster, "deep") >= deep_rows);
}

// flowps-ps as a real process: a push/pull round trip through the daemon, and
// a kill -9 in the middle of a checkpoint write. Every process a test starts
// is killed and reaped by PID when the test ends.

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>

#include "net/ps_client.h"
#include "net/rpc_common.h"
#include "ps/checkpoint.h"
#include "test_process.h"

namespace flowps {
namespace {
namespace fs = std::filesystem;
using flowps::FreeLoopbackPort;
using test::Slurp;

constexpr const char* kToken = "ps-daemon-test-token";

// A folder with a cluster spec of one ps (and one worker, never started).
struct PsTestCluster {
  PsTestCluster() : port(FreeLoopbackPort()) {
    char tmpl[] = "/tmp/flowps_ps_daemon_XXXXXX";
    dir = ::mkdtemp(tmpl);
    std::ofstream(dir + "/token") << kToken << "\n";
    std::ofstream(dir + "/cluster.yaml") << "token_file: token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:"
                                         << port << "\n  worker:\n    tasks:\n      - address: 127.0.0.1:" << FreeLoopbackPort()
                                         << "\n";
  }
  ~PsTestCluster() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  int port;
  std::string dir;
};

// flowps-ps task 0 of `cluster`, its output appended to ps.out in the folder.
struct PsProcess : test::Process {
  explicit PsProcess(const PsTestCluster& cluster)
      : test::Process({std::string(FLOWPS_BIN_DIR) + "/flowps-ps", "--cluster", cluster.dir + "/cluster.yaml", "--task", "0"},
                      cluster.dir + "/ps.out"),
        log(cluster.dir + "/ps.out") {}
  std::string log;
};

PsClientOptions Options(const PsTestCluster& cluster) {
  PsClientOptions o;
  o.shard_addresses = {cluster.address()};
  o.token = kToken;
  o.connect_timeout = std::chrono::milliseconds(1000);
  o.call_timeout = std::chrono::milliseconds(30000);
  return o;
}

// Configures the shard, retrying (bounded) while the daemon starts up.
std::vector<int64_t> ConfigureWhenUp(PsClient& client, const PsJobConfig& config, kj::WaitScope& ws,
                                     const std::string& log) {
  StatusOr<std::vector<int64_t>> r = Unavailable("not tried");
  for (int i = 0; i < 100 && !r.ok(); ++i) {
    r = WaitFor(client.Configure(config), ws, "configure");
    if (!r.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(Slurp(log));
  REQUIRE(r.ok());
  return *r;
}

template <typename T>
T Wait(kj::Promise<T>&& p, kj::WaitScope& ws) {
  StatusOr<T> r = WaitFor(kj::mv(p), ws, "ps call");
  if (!r.ok()) FAIL(r.status().ToString());
  return std::move(*r);
}

void WaitOk(kj::Promise<void>&& p, kj::WaitScope& ws) {
  Status st = WaitFor(kj::mv(p), ws, "ps call");
  if (!st.ok()) FAIL(st.ToString());
}

PartitionPlan OneVariable(int64_t n) {
  StatusOr<PartitionPlan> plan = PlanPartitions({{"w", DType::kFloat32, Shape{n}}}, 1, 0);
  REQUIRE(plan.ok());
  return *plan;
}

std::vector<VariableGradient> Ones(int64_t n, float v) {
  return {VariableGradient{"w", Tensor::FromVector<float>({n}, std::vector<float>(static_cast<size_t>(n), v)), {}, false}};
}

}  // namespace

TEST_CASE("an RPC round trip: push and pull through the flowps-ps daemon") {
  PsTestCluster cluster;
  PsProcess ps(cluster);
  REQUIRE(ps.pid > 0);
  auto io = kj::setupAsyncIo();
  PsClient client(io, Options(cluster), OneVariable(1000));
  PsJobConfig config;
  config.mode = TrainingMode::kSync;
  config.optimizer.kind = OptimizerKind::kMomentum;
  config.optimizer.learning_rate = 0.5;
  config.optimizer.momentum = 0.5;
  CHECK(ConfigureWhenUp(client, config, io.waitScope, ps.log) == std::vector<int64_t>{-1});
  CHECK(Wait(client.CreateVariables({}), io.waitScope) == 1);
  for (int64_t step = 0; step < 2; ++step) {
    auto replies = Wait(client.Push(0, {step}, Ones(1000, 2)), io.waitScope);
    CHECK(replies[0].outcome == PushReplyOutcome::kApplied);
  }
  PulledVariables pulled = Wait(client.Pull({"w"}), io.waitScope);
  // Momentum 0.5, lr 0.5, g = 2: -1 after step 1, then acc = 3: -1 - 1.5.
  std::vector<float> w = pulled.values.at("w").ToVector<float>();
  CHECK(w.front() == -2.5f);
  CHECK(w.back() == -2.5f);
  CHECK(pulled.shard_steps == std::vector<int64_t>{2});
}

TEST_CASE("kill -9 of flowps-ps during a checkpoint write leaves the previous complete checkpoint, and a restart restores it") {
  PsTestCluster cluster;
  const std::string ckpt = cluster.dir + "/ckpt";
  PsJobConfig config;
  config.mode = TrainingMode::kAsync;
  config.optimizer.kind = OptimizerKind::kAdam;
  config.optimizer.learning_rate = 0.1;
  config.checkpoint_dir = ckpt;
  config.keep_checkpoints = 3;
  const int64_t n = 1 << 16;
  std::vector<float> at_checkpoint;
  {
    // Tests only: every shard file of this flowps-ps waits this long between fsync and rename.
    ::setenv("FLOWPS_TEST_PAUSE_BEFORE_RENAME_MS", "1500", 1);
    PsProcess ps(cluster);
    ::unsetenv("FLOWPS_TEST_PAUSE_BEFORE_RENAME_MS");
    auto io = kj::setupAsyncIo();
    PsClient client(io, Options(cluster), OneVariable(n));
    ConfigureWhenUp(client, config, io.waitScope, ps.log);
    Wait(client.CreateVariables({}), io.waitScope);
    Wait(client.Push(0, {0}, Ones(n, 1)), io.waitScope);
    WaitOk(client.Checkpoint(1), io.waitScope);  // complete
    at_checkpoint = Wait(client.Pull({"w"}), io.waitScope).values.at("w").ToVector<float>();
    Wait(client.Push(0, {1}, Ones(n, 3)), io.waitScope);

    // Checkpoint 2: kill -9 the ps once its file is written but not yet renamed.
    kj::Promise<void> pending = client.Checkpoint(2);
    const std::string tmp = ps::CheckpointShardPath(ckpt, 2, 0) + ".tmp";
    bool in_window = false;
    for (int i = 0; i < 1000 && !in_window; ++i) {
      io.waitScope.poll();
      in_window = fs::exists(tmp);
      if (!in_window) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    REQUIRE(in_window);
    ps.Kill();
    CHECK(!WaitFor(kj::mv(pending), io.waitScope, "checkpoint 2").ok());
  }
  CHECK(!fs::exists(ps::CheckpointShardPath(ckpt, 2, 0)));
  CHECK(!fs::exists(ps::CheckpointStepDir(ckpt, 2) + "/MANIFEST"));
  CHECK(ps::CompleteCheckpoints(ckpt) == std::vector<int64_t>{1});

  PsProcess restarted(cluster);
  auto io = kj::setupAsyncIo();
  PsClient client(io, Options(cluster), OneVariable(n));
  CHECK(ConfigureWhenUp(client, config, io.waitScope, restarted.log) == std::vector<int64_t>{1});
  CHECK(Wait(client.CreateVariables({}), io.waitScope) == 0);  // restored, not re-initialised
  PulledVariables pulled = Wait(client.Pull({"w"}), io.waitScope);
  CHECK(pulled.values.at("w").ToVector<float>() == at_checkpoint);
  CHECK(pulled.shard_steps == std::vector<int64_t>{1});
}

}  // namespace flowps

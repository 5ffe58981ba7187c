#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "bench/bench_runner.h"
#include "bench/ps_benchmarks.h"
#include "net/loopback_port.h"
#include "net/ps_client.h"
#include "net/rpc_common.h"

extern char** environ;

namespace flowps {
namespace {

namespace fs = std::filesystem;
constexpr const char* kToken = "ps-memory-bench";

// A flowps-ps process with a cluster spec of its own in a temporary folder;
// killed (SIGKILL, by PID) and its folder removed when this goes away.
struct PsDaemon {
  ~PsDaemon() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
  Status Start(const std::string& binary) {
    char tmpl[] = "/tmp/flowps_ps_memory_XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return Internal("bench ps-memory: cannot make a temporary folder");
    dir = tmpl;
    address = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
    std::ofstream(dir + "/token") << kToken << "\n";
    std::ofstream(dir + "/cluster.yaml") << "token_file: token\njobs:\n  ps:\n    tasks:\n      - address: " << address
                                         << "\n  worker:\n    tasks:\n      - address: 127.0.0.1:" << FreeLoopbackPort()
                                         << "\n";
    const std::string spec = dir + "/cluster.yaml", log = dir + "/ps.out";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<std::string> args = {binary, "--cluster", spec, "--task", "0"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid = -1;
      return Unavailable("bench ps-memory: cannot start " + binary + ": " + std::strerror(rc));
    }
    return Status::OK();
  }
  // A field of /proc/<pid>/status in MB (VmRSS: now; VmHWM: the peak).
  StatusOr<double> StatusMB(const std::string& field) const {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
      if (line.rfind(field + ":", 0) == 0) return std::atof(line.c_str() + field.size() + 1) / 1024.0;
    return Internal("bench ps-memory: no " + field + " for flowps-ps (pid " + std::to_string(pid) + ")");
  }
  pid_t pid = -1;
  std::string dir, address;
};

// flowps-ps beside this flowps binary, unless --opt ps_binary= says otherwise.
std::string PsBinary(const std::map<std::string, std::string>& options) {
  auto it = options.find("ps_binary");
  if (it != options.end()) return it->second;
  std::error_code ec;
  return (fs::read_symlink("/proc/self/exe", ec).parent_path() / "flowps-ps").string();
}

Status RunPsMemory(BenchContext& ctx) {
  auto options = ctx.options;
  const std::string binary = PsBinary(options);
  const std::string optimizer = options.count("optimizer") ? options.at("optimizer") : "adam";
  options.erase("ps_binary");
  options.erase("optimizer");
  FLOWPS_ASSIGN_OR_RETURN(int64_t rows, TakeIntOption(options, "rows", 4096));
  FLOWPS_ASSIGN_OR_RETURN(int64_t cols, TakeIntOption(options, "cols", 4096));
  FLOWPS_ASSIGN_OR_RETURN(int64_t steps, TakeIntOption(options, "steps", 20));
  FLOWPS_ASSIGN_OR_RETURN(int64_t idle_ms, TakeIntOption(options, "idle_ms", 1500));
  FLOWPS_RETURN_IF_ERROR(RefuseUnknownOptions(options, "ps-memory"));

  PsDaemon ps;
  FLOWPS_RETURN_IF_ERROR(ps.Start(binary));
  const Shape shape{rows, cols};
  FLOWPS_ASSIGN_OR_RETURN(PartitionPlan plan, PlanPartitions({{"w", DType::kFloat32, shape}}, 1, 0));
  auto io = kj::setupAsyncIo();
  PsClientOptions client_options;
  client_options.shard_addresses = {ps.address};
  client_options.token = kToken;
  client_options.connect_timeout = std::chrono::milliseconds(1000);
  PsClient client(io, client_options, plan);
  PsJobConfig config;
  config.mode = TrainingMode::kSync;
  FLOWPS_ASSIGN_OR_RETURN(config.optimizer.kind, ParseOptimizerKind(optimizer));
  config.optimizer.learning_rate = 1e-6;
  Status configured = Unavailable("flowps-ps did not answer");
  for (int i = 0; i < 100 && !configured.ok(); ++i) {
    configured = WaitFor(client.Configure(config), io.waitScope, "configure").status();
    if (!configured.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  FLOWPS_RETURN_IF_ERROR(configured);
  FLOWPS_ASSIGN_OR_RETURN(double empty_mb, ps.StatusMB("VmRSS"));
  FLOWPS_RETURN_IF_ERROR(WaitFor(client.CreateVariables({}), io.waitScope, "create").status());
  FLOWPS_ASSIGN_OR_RETURN(PulledVariables pulled, WaitFor(client.Pull({"w"}), io.waitScope, "pull"));

  // The state: the variable and its optimizer slots.
  const int slots = optimizer == "adam" ? 2 : (optimizer == "sgd" ? 0 : 1);
  const double state_mb = static_cast<double>(rows * cols * 4 * (1 + slots)) / (1024.0 * 1024.0);
  Tensor grad = Tensor::Zeros(DType::kFloat32, shape);
  std::vector<int64_t> shard_steps = pulled.shard_steps;
  for (int64_t s = 0; s < steps; ++s) {
    FLOWPS_ASSIGN_OR_RETURN(
        PushPullResult r,
        WaitFor(client.PushPull(0, shard_steps, {VariableGradient{"w", grad, {}, false}}, PullSpec{{"w"}, {}}),
                io.waitScope, "pushPull"));
    shard_steps = r.pulled.shard_steps;
  }
  FLOWPS_ASSIGN_OR_RETURN(double busy_mb, ps.StatusMB("VmRSS"));
  FLOWPS_ASSIGN_OR_RETURN(double peak_mb, ps.StatusMB("VmHWM"));
  if (ctx.progress) ctx.progress("after " + std::to_string(steps) + " steps; idle for " + std::to_string(idle_ms) + " ms");
  std::this_thread::sleep_for(std::chrono::milliseconds(idle_ms));
  FLOWPS_ASSIGN_OR_RETURN(double idle_mb, ps.StatusMB("VmRSS"));

  const std::string prefix = "ps_memory_" + std::to_string(rows) + "x" + std::to_string(cols) + "_" + optimizer;
  const double base = empty_mb;  // the daemon's own RSS (code, libraries, threads) before any variable
  ctx.emit(Measurement{prefix + "_state_MB", state_mb, "MB", std::nullopt, std::nullopt});
  ctx.emit(Measurement{prefix + "_daemon_base_MB", base, "MB", std::nullopt, std::nullopt});
  ctx.emit(Measurement{prefix + "_busy_rss_over_state", (busy_mb - base) / state_mb, "x", std::nullopt, std::nullopt});
  ctx.emit(Measurement{prefix + "_peak_rss_over_state", (peak_mb - base) / state_mb, "x", std::nullopt, std::nullopt});
  ctx.emit(Measurement{prefix + "_idle_rss_over_state", (idle_mb - base) / state_mb, "x", std::nullopt, std::nullopt});
  return Status::OK();
}

}  // namespace

Benchmark MakePsMemoryBenchmark() {
  return Benchmark{"ps-memory",
                   "RSS of a flowps-ps process over its state (variable + optimizer slots) for one [4096, 4096] "
                   "variable with Adam: while training (sync pushPull steps), at its peak, and once idle",
                   RunPsMemory};
}

}  // namespace flowps

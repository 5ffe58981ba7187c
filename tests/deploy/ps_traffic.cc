// ps_traffic: a worker-like client of a cluster's ps shards, for the netns
// suite (the real worker loop is not there yet). Run once with --setup (as the
// chief: async mode, SGD with learning rate 1, variable "w" of --floats zeros),
// then from each worker host with --worker W --pushes K: K times, pull w (for
// the shards' steps) and push a gradient of ones as (W, those steps), pausing
// --step-ms between pushes as a worker computing would. A push
// that fails (e.g. the link is down) is sent again, the same (W, steps), until
// a shard answers or --deadline-s passes; a shard that had applied it already
// says duplicate, so each update counts once. --check TOTAL pulls w and
// requires every element to be exactly -TOTAL: no update lost, none twice.
// --stats prints what each shard counted (of any job, e.g. a training run):
//   shard K: step S accepted A applied U stale D duplicates P refused R
//
// Prints one line per run: pushes, retries, duplicates, seconds, MB/s pushed.
// Exit code 0 on success, 1 on failure, 2 for bad flags or a bad spec.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "core/cluster_spec.h"
#include "net/ps_client.h"
#include "net/rpc_common.h"

namespace flowps {
namespace {

struct Options {
  std::string cluster;
  bool setup = false;
  int worker = -1;
  int pushes = 0;
  int64_t floats = 16384;
  int64_t check_total = -1;
  int deadline_s = 60;
  int step_ms = 0;
  bool stats = false;
};

using Clock = std::chrono::steady_clock;

int Fail(const std::string& what, const Status& s) {
  std::fprintf(stderr, "ps_traffic: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

// `call` again every 200 ms until it succeeds or `deadline` passes.
template <typename T, typename Call>
StatusOr<T> Retry(kj::WaitScope& ws, Clock::time_point deadline, int* retries, Call call) {
  while (true) {
    StatusOr<T> r = WaitFor(call(), ws, "ps");
    if (r.ok() || Clock::now() >= deadline) return r;
    ++*retries;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int Run(const Options& o) {
  auto spec = LoadClusterSpec(o.cluster);
  if (!spec.ok()) {
    std::fprintf(stderr, "ps_traffic: %s\n", spec.status().message().c_str());
    return 2;
  }
  auto plan = PlanPartitions({{"w", DType::kFloat32, Shape{o.floats}}}, static_cast<int>(spec->ps.size()), 0);
  if (!plan.ok()) return Fail("plan", plan.status());
  PsClientOptions options;
  for (const TaskSpec& t : spec->ps) options.shard_addresses.push_back(t.address());
  options.token = spec->token;
  options.connect_timeout = std::chrono::milliseconds(1000);
  options.call_timeout = std::chrono::milliseconds(5000);
  auto io = kj::setupAsyncIo();
  PsClient client(io, options, *plan);
  const auto deadline = Clock::now() + std::chrono::seconds(o.deadline_s);
  int retries = 0;

  if (o.setup) {
    PsJobConfig config;
    config.mode = TrainingMode::kAsync;
    config.total_workers = static_cast<int>(spec->workers.size());
    config.optimizer.kind = OptimizerKind::kSgd;
    config.optimizer.learning_rate = 1.0;
    auto configured = Retry<std::vector<int64_t>>(io.waitScope, deadline, &retries,
                                                  [&] { return client.Configure(config); });
    if (!configured.ok()) return Fail("configure", configured.status());
    auto created = WaitFor(client.CreateVariables({}), io.waitScope, "create");
    if (!created.ok()) return Fail("create variables", created.status());
    std::printf("set up: async SGD lr 1, w = %lld zeros on %zu shards\n", static_cast<long long>(o.floats),
                spec->ps.size());
  }

  int duplicates = 0;
  const auto start = Clock::now();
  const std::vector<VariableGradient> ones = {
      {"w", Tensor::FromVector<float>(Shape{o.floats}, std::vector<float>(static_cast<size_t>(o.floats), 1.0f)), {},
       false}};
  for (int i = 0; i < o.pushes; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.step_ms));
    auto pulled = Retry<PulledVariables>(io.waitScope, deadline, &retries, [&] { return client.Pull({"w"}); });
    if (!pulled.ok()) return Fail("pull " + std::to_string(i), pulled.status());
    const std::vector<int64_t> steps = pulled->shard_steps;
    auto pushed = Retry<std::vector<ShardPushReply>>(io.waitScope, deadline, &retries,
                                                     [&] { return client.Push(o.worker, steps, ones); });
    if (!pushed.ok()) return Fail("push " + std::to_string(i), pushed.status());
    for (const ShardPushReply& r : *pushed) {
      if (r.outcome == PushReplyOutcome::kStale) return Fail("push " + std::to_string(i), Internal("dropped as stale"));
      duplicates += r.outcome == PushReplyOutcome::kDuplicate;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (o.pushes > 0)
    std::printf("worker %d: %d pushes of %lld floats, %d retries, %d duplicate answers, %.2f s, %.2f MB/s pushed\n",
                o.worker, o.pushes, static_cast<long long>(o.floats), retries, duplicates, seconds,
                o.pushes * o.floats * 4.0 / seconds / 1e6);

  if (o.check_total >= 0) {
    auto pulled = Retry<PulledVariables>(io.waitScope, deadline, &retries, [&] { return client.Pull({"w"}); });
    if (!pulled.ok()) return Fail("final pull", pulled.status());
    const std::vector<float> w = pulled->values.at("w").ToVector<float>();
    int64_t wrong = 0;
    for (float v : w) wrong += v != -static_cast<float>(o.check_total);
    std::printf("check: w[0] = %g, want %lld; %lld of %zu elements differ\n", w.front(),
                static_cast<long long>(-o.check_total), static_cast<long long>(wrong), w.size());
    if (wrong != 0) return 1;
  }
  if (o.stats) {
    auto stats = Retry<std::vector<ShardStatsReply>>(io.waitScope, deadline, &retries, [&] { return client.Stats(); });
    if (!stats.ok()) return Fail("stats", stats.status());
    for (size_t k = 0; k < stats->size(); ++k) {
      const ShardStatsReply& r = (*stats)[k];
      std::printf("shard %zu: step %lld accepted %lld applied %lld stale %lld duplicates %lld refused %lld\n", k,
                  static_cast<long long>(r.global_step), static_cast<long long>(r.accepted),
                  static_cast<long long>(r.applied_updates), static_cast<long long>(r.stale_dropped),
                  static_cast<long long>(r.duplicates), static_cast<long long>(r.refused));
    }
  }
  return 0;
}

}  // namespace
}  // namespace flowps

int main(int argc, char** argv) {
  flowps::Options o;
  CLI::App app{"ps_traffic: a worker-like client of a cluster's ps shards (netns suite)"};
  app.add_option("--cluster", o.cluster, "cluster spec")->required();
  app.add_flag("--setup", o.setup, "configure the shards and create w first");
  app.add_option("--worker", o.worker, "worker id of the pushes");
  app.add_option("--pushes", o.pushes, "how many updates to push");
  app.add_option("--floats", o.floats, "size of w")->check(CLI::PositiveNumber);
  app.add_option("--check", o.check_total, "require every element of w to be -TOTAL");
  app.add_option("--step-ms", o.step_ms, "pause between pushes (a worker's compute time)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--stats", o.stats, "print each shard's step and push counts");
  app.add_option("--deadline-s", o.deadline_s, "give up after this many seconds")->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (o.pushes > 0 && o.worker < 0) {
    std::fprintf(stderr, "ps_traffic: --pushes needs --worker\n");
    return 2;
  }
  return flowps::Run(o);
}

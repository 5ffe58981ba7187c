#include "ps/sync_aggregator.h"

#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <catch2/catch.hpp>

#include "ps_test_util.h"

namespace flowps::ps {
using namespace testing;

TEST_CASE("sync with 3 workers plus 1 backup: the first 3 of 4 count and the 4th is dropped and counted") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("w", {2}));
  SyncAggregator agg({.replicas_to_aggregate = 3, .total_workers = 4}, &store, NullLogger());
  std::vector<int64_t> released;
  agg.WaitForStep(1, [&](StatusOr<int64_t> s) { released.push_back(s.value()); });

  CHECK(OutcomeOf(PushNow(agg, 2, 0, {Dense("w", {2}, {3, 30})})) == PushOutcome::kAccepted);
  CHECK(OutcomeOf(PushNow(agg, 0, 0, {Dense("w", {2}, {1, 10})})) == PushOutcome::kAccepted);
  CHECK(released.empty());
  CHECK(Values(store, "w") == std::vector<float>{0, 0});
  StatusOr<PushResult> third = PushNow(agg, 3, 0, {Dense("w", {2}, {2, 20})});
  CHECK(OutcomeOf(third) == PushOutcome::kApplied);
  CHECK(third->global_step == 1);
  CHECK(released == std::vector<int64_t>{1});
  // The average of the first three: (3 + 1 + 2) / 3 = 2 and (30 + 10 + 20) / 3 = 20.
  CHECK(Values(store, "w") == std::vector<float>{-2, -20});

  StatusOr<PushResult> fourth = PushNow(agg, 1, 0, {Dense("w", {2}, {1000, 1000})});
  CHECK(OutcomeOf(fourth) == PushOutcome::kStale);
  CHECK(Values(store, "w") == std::vector<float>{-2, -20});
  CHECK(agg.stats().stale_dropped == 1);
  CHECK(agg.stats().accepted == 3);
  CHECK(agg.stats().applied_updates == 1);
  CHECK(agg.global_step() == 1);
}

TEST_CASE("a gradient from an older step is dropped and counted; the late worker joins the next step") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("w", {1}));
  SyncAggregator agg({.replicas_to_aggregate = 2, .total_workers = 3}, &store, NullLogger());
  for (int64_t step = 0; step < 2; ++step) {
    PushNow(agg, 0, step, {Dense("w", {1}, {1})});
    PushNow(agg, 1, step, {Dense("w", {1}, {1})});
  }
  REQUIRE(agg.global_step() == 2);
  CHECK(OutcomeOf(PushNow(agg, 2, 0, {Dense("w", {1}, {50})})) == PushOutcome::kStale);
  CHECK(agg.stats().stale_dropped == 1);
  CHECK(Values(store, "w") == std::vector<float>{-2});
  // Worker 2 waits for the current step (released at once), then counts in it.
  int64_t token = -1;
  agg.WaitForStep(0, [&](StatusOr<int64_t> s) { token = s.value(); });
  CHECK(token == 2);
  CHECK(OutcomeOf(PushNow(agg, 2, token, {Dense("w", {1}, {3})})) == PushOutcome::kAccepted);
  CHECK(OutcomeOf(PushNow(agg, 0, token, {Dense("w", {1}, {1})})) == PushOutcome::kApplied);
  CHECK(Values(store, "w") == std::vector<float>{-4});
}

TEST_CASE("a retried sync push is counted once, before and after its step is applied") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("w", {1}));
  SyncAggregator agg({.replicas_to_aggregate = 2, .total_workers = 2}, &store, NullLogger());
  CHECK(OutcomeOf(PushNow(agg, 0, 0, {Dense("w", {1}, {4})})) == PushOutcome::kAccepted);
  CHECK(OutcomeOf(PushNow(agg, 0, 0, {Dense("w", {1}, {4})})) == PushOutcome::kDuplicate);
  CHECK(agg.global_step() == 0);
  CHECK(OutcomeOf(PushNow(agg, 1, 0, {Dense("w", {1}, {2})})) == PushOutcome::kApplied);
  CHECK(OutcomeOf(PushNow(agg, 1, 0, {Dense("w", {1}, {2})})) == PushOutcome::kDuplicate);
  CHECK(Values(store, "w") == std::vector<float>{-3});
  CHECK(agg.stats().duplicates == 2);
  CHECK(agg.stats().stale_dropped == 0);
}

TEST_CASE("a sync push that is malformed, ahead of the step, or from an unknown worker is refused") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("w", {1}));
  SyncAggregator agg({.replicas_to_aggregate = 1, .total_workers = 2}, &store, NullLogger());
  CHECK(PushNow(agg, 0, 5, {Dense("w", {1}, {1})}).status().code() == Code::kFailedPrecondition);
  CHECK(PushNow(agg, 7, 0, {Dense("w", {1}, {1})}).status().code() == Code::kInvalidArgument);
  CHECK(PushNow(agg, 0, 0, {Dense("w", {2}, {1, 1})}).status().code() == Code::kInvalidArgument);
  CHECK(agg.global_step() == 0);
  CHECK(agg.stats().refused == 3);
  // A refused push is not counted, so the same worker may push that step again.
  CHECK(OutcomeOf(PushNow(agg, 0, 0, {Dense("w", {1}, {1})})) == PushOutcome::kApplied);
}

TEST_CASE("sparse gradients of a sync step are averaged over the N pushes") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("emb", {3, 1}));
  SyncAggregator agg({.replicas_to_aggregate = 2, .total_workers = 2}, &store, NullLogger());
  PushNow(agg, 0, 0, {Gradient{"emb", Tensor::FromVector<float>({1, 1}, {2}), Tensor::FromVector<int64_t>({1}, {0})}});
  PushNow(agg, 1, 0, {Gradient{"emb", Tensor::FromVector<float>({2, 1}, {4, 6}), Tensor::FromVector<int32_t>({2}, {0, 2})}});
  CHECK(Values(store, "emb") == std::vector<float>{-3, 0, -3});
}

TEST_CASE("two shards each apply N gradients per step and their global steps never differ by more than one") {
  // Four workers (N = 3, one backup) run 30 steps against two shards on
  // threads with random delays. Each push to each shard tells the worker
  // whether it counted; every step a shard applies must be the mean of the
  // gradients it reported as counted, and no worker ever sees the shards'
  // steps more than one apart.
  constexpr int kWorkers = 4, kSteps = 30;
  std::vector<std::unique_ptr<VariableStore>> stores;
  std::vector<std::unique_ptr<SyncAggregator>> shards;
  for (int k = 0; k < 2; ++k) {
    stores.push_back(std::make_unique<VariableStore>(Sgd(1.0), nullptr));
    CreateOrDie(*stores.back(), ZerosSpec("w", {1}));
    shards.push_back(std::make_unique<SyncAggregator>(SyncConfig{3, kWorkers}, stores.back().get(), NullLogger()));
  }
  std::mutex mu;
  std::vector<double> expected(2, 0.0);     // guarded by mu
  std::vector<std::vector<double>> counted(2, std::vector<double>(kSteps + kWorkers, 0.0));
  int max_skew = 0;
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937 rng(static_cast<unsigned>(w) * 7919u);
      for (int iter = 0; iter < 200 && !stop; ++iter) {
        // Wait for the current step on both shards (the ps client does this with joinPromises).
        std::vector<int64_t> tokens(2);
        for (int k = 0; k < 2; ++k) {
          std::promise<int64_t> p;
          shards[k]->WaitForStep(0, [&](StatusOr<int64_t> s) { p.set_value(s.value()); });
          tokens[k] = p.get_future().get();
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          max_skew = std::max<int>(max_skew, static_cast<int>(std::abs(tokens[0] - tokens[1])));
        }
        if (std::min(tokens[0], tokens[1]) >= kSteps) break;
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));
        const float g = static_cast<float>(w + 1);
        std::vector<int64_t> pushed_at(2);
        for (int k : (rng() % 2 ? std::vector<int>{0, 1} : std::vector<int>{1, 0})) {
          StatusOr<PushResult> r = PushNow(*shards[k], w, tokens[k], {Dense("w", {1}, {g})});
          if (!r.ok()) {
            stop = true;
            continue;
          }
          if (r->outcome == PushOutcome::kAccepted || r->outcome == PushOutcome::kApplied) {
            std::lock_guard<std::mutex> lock(mu);
            counted[k][static_cast<size_t>(tokens[k])] += g / 3.0;
          }
        }
        // Wait for the next step on both shards before pulling again.
        for (int k = 0; k < 2; ++k) {
          std::promise<int64_t> p;
          shards[k]->WaitForStep(tokens[k] + 1, [&](StatusOr<int64_t> s) { p.set_value(s.value()); });
          auto f = p.get_future();
          if (f.wait_for(std::chrono::seconds(20)) != std::future_status::ready) stop = true;
        }
      }
    });
  }
  for (std::thread& t : workers) t.join();
  REQUIRE(!stop);
  CHECK(max_skew <= 1);
  for (int k = 0; k < 2; ++k) {
    const int64_t steps = shards[k]->global_step();
    CHECK(steps >= kSteps);
    CHECK(shards[k]->stats().applied_updates == steps);
    CHECK(shards[k]->stats().accepted == 3 * steps);
    double sum = 0;
    for (int64_t s = 0; s < steps; ++s) sum += counted[k][static_cast<size_t>(s)];
    CHECK(Values(*stores[k], "w")[0] == Approx(-sum));
  }
}

}  // namespace flowps::ps

namespace flowps::ps {
using namespace testing;

TEST_CASE("a sync step mixing a sparse and a dense gradient for one variable is dropped, not wedged") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("emb", {4, 1}));
  SyncAggregator agg({.replicas_to_aggregate = 2, .total_workers = 2}, &store, NullLogger());
  std::optional<StatusOr<int64_t>> released;
  agg.WaitForStep(1, [&](StatusOr<int64_t> s) { released = s; });
  CHECK(OutcomeOf(PushNow(agg, 0, 0, {Dense("emb", {4, 1}, {1, 1, 1, 1})})) == PushOutcome::kAccepted);
  StatusOr<PushResult> sparse =
      PushNow(agg, 1, 0, {Gradient{"emb", Tensor::FromVector<float>({1, 1}, {5}), Tensor::FromVector<int64_t>({1}, {2})}});
  // The pusher that completed the step and the one waiting for it are told; nothing was applied.
  REQUIRE(!sparse.ok());
  CHECK(sparse.status().message().find("step 0 was dropped") != std::string::npos);
  REQUIRE(released.has_value());
  CHECK(!released->ok());
  CHECK(Values(store, "emb") == std::vector<float>{0, 0, 0, 0});
  CHECK(agg.global_step() == 0);
  CHECK(agg.stats().failed_steps == 1);
  // Step 0 is open again for both workers.
  CHECK(OutcomeOf(PushNow(agg, 0, 0, {Dense("emb", {4, 1}, {2, 2, 2, 2})})) == PushOutcome::kAccepted);
  CHECK(OutcomeOf(PushNow(agg, 1, 0, {Dense("emb", {4, 1}, {4, 4, 4, 4})})) == PushOutcome::kApplied);
  CHECK(Values(store, "emb") == std::vector<float>{-3, -3, -3, -3});
}

}  // namespace flowps::ps

namespace flowps::ps {
using namespace testing;

TEST_CASE("a shard rolled back to a checkpoint answers its waiters of later steps with an error, not never") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("w", {2}));
  SyncAggregator agg({.replicas_to_aggregate = 1, .total_workers = 2}, &store, NullLogger());
  const ShardSnapshot at_zero = agg.Snapshot();
  CHECK(OutcomeOf(PushNow(agg, 0, 0, {Dense("w", {2}, {1, 1})})) == PushOutcome::kApplied);
  CHECK(OutcomeOf(PushNow(agg, 0, 1, {Dense("w", {2}, {1, 1})})) == PushOutcome::kApplied);
  // A worker waits for step 3, which it would have reached on the live state.
  std::optional<StatusOr<int64_t>> answer;
  agg.WaitForStep(3, [&](StatusOr<int64_t> s) { answer = s; });
  CHECK_FALSE(answer.has_value());

  REQUIRE(agg.Restore(at_zero).ok());
  REQUIRE(answer.has_value());
  REQUIRE_FALSE(answer->ok());
  CHECK(answer->status().code() == Code::kAborted);
  CHECK_THAT(answer->status().message(), Catch::Contains("rolled back to a checkpoint at step 0"));
  CHECK(agg.global_step() == 0);
  CHECK(Values(store, "w") == std::vector<float>{0, 0});
}

}  // namespace flowps::ps

#include "ps/async_applier.h"

#include <thread>

#include <catch2/catch.hpp>

#include "ps_test_util.h"

namespace flowps::ps {
using namespace testing;

TEST_CASE("async applies each push as it arrives and advances the global step") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("w", {1}));
  AsyncApplier rule({.max_staleness = -1, .policy = StalenessPolicy::kRefuse, .total_workers = 2}, &store,
                    NullLogger());
  StatusOr<PushResult> first = PushNow(rule, 0, 0, {Dense("w", {1}, {1})});
  CHECK(OutcomeOf(first) == PushOutcome::kApplied);
  CHECK(first->global_step == 1);
  CHECK(Values(store, "w") == std::vector<float>{-1});
  // Worker 1 computed from step 0 too: without a bound it is applied, late as it is.
  CHECK(OutcomeOf(PushNow(rule, 1, 0, {Dense("w", {1}, {2})})) == PushOutcome::kApplied);
  CHECK(Values(store, "w") == std::vector<float>{-3});
  CHECK(rule.global_step() == 2);
}

TEST_CASE("bounded staleness with the refuse policy: a push more than s steps behind is refused") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("w", {1}));
  AsyncApplier rule({.max_staleness = 2, .policy = StalenessPolicy::kRefuse, .total_workers = 2}, &store,
                    NullLogger());
  for (int64_t step = 0; step < 3; ++step) PushNow(rule, 0, step, {Dense("w", {1}, {1})});
  REQUIRE(rule.global_step() == 3);
  // Staleness 3 - 0 = 3 > 2: refused, nothing changes.
  CHECK(OutcomeOf(PushNow(rule, 1, 0, {Dense("w", {1}, {100})})) == PushOutcome::kStale);
  CHECK(Values(store, "w") == std::vector<float>{-3});
  CHECK(rule.stats().stale_dropped == 1);
  // Staleness 3 - 1 = 2: allowed.
  CHECK(OutcomeOf(PushNow(rule, 1, 1, {Dense("w", {1}, {10})})) == PushOutcome::kApplied);
  CHECK(Values(store, "w") == std::vector<float>{-13});
}

TEST_CASE("bounded staleness with the wait policy: a worker more than s steps ahead waits for the slowest") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("w", {1}));
  AsyncApplier rule({.max_staleness = 1, .policy = StalenessPolicy::kWait, .total_workers = 2}, &store,
                    NullLogger());
  CHECK(OutcomeOf(PushNow(rule, 0, 0, {Dense("w", {1}, {1})})) == PushOutcome::kApplied);
  CHECK(OutcomeOf(PushNow(rule, 0, 1, {Dense("w", {1}, {1})})) == PushOutcome::kApplied);
  // Worker 0 is now 2 steps ahead of worker 1 (which has not pushed): held.
  std::optional<StatusOr<PushResult>> held;
  rule.Push(PushRequest{0, 2, {Dense("w", {1}, {1})}}, [&](StatusOr<PushResult> r) { held = std::move(r); });
  CHECK(!held.has_value());
  CHECK(rule.stats().waiting == 1);
  CHECK(Values(store, "w") == std::vector<float>{-2});
  // A retry of the held push joins it rather than being applied again.
  std::optional<StatusOr<PushResult>> retry;
  rule.Push(PushRequest{0, 2, {Dense("w", {1}, {1})}}, [&](StatusOr<PushResult> r) { retry = std::move(r); });
  CHECK(!retry.has_value());
  // The slow worker pushes: applied at once, and the held push goes after it.
  CHECK(OutcomeOf(PushNow(rule, 1, 0, {Dense("w", {1}, {10})})) == PushOutcome::kApplied);
  REQUIRE(held.has_value());
  REQUIRE(retry.has_value());
  CHECK(OutcomeOf(*held) == PushOutcome::kApplied);
  CHECK((*held)->global_step == 4);
  CHECK(Values(store, "w") == std::vector<float>{-13});
  CHECK(rule.stats().waiting == 0);
  CHECK(rule.stats().applied_updates == 4);
}

TEST_CASE("the wait policy with 3 workers who join after the chief ran ahead: nobody deadlocks") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("w", {1}));
  AsyncApplier rule({.max_staleness = 2, .policy = StalenessPolicy::kWait, .total_workers = 3}, &store,
                    NullLogger());
  for (int64_t t = 0; t < 3; ++t) CHECK(OutcomeOf(PushNow(rule, 0, t, {Dense("w", {1}, {1})})) == PushOutcome::kApplied);
  // The chief is 3 steps ahead of the two that have not pushed yet: held. The
  // others join at step 3; each one's push says it has reached step 3 too.
  std::vector<std::optional<StatusOr<PushResult>>> answers(3);
  for (int32_t w = 0; w < 3; ++w)
    rule.Push(PushRequest{w, 3, {Dense("w", {1}, {1})}}, [&answers, w](StatusOr<PushResult> r) { answers[w] = std::move(r); });
  for (int32_t w = 0; w < 3; ++w) {
    INFO("worker " << w);
    REQUIRE(answers[static_cast<size_t>(w)].has_value());
    CHECK(OutcomeOf(*answers[static_cast<size_t>(w)]) == PushOutcome::kApplied);
  }
  CHECK(rule.global_step() == 6);
  CHECK(rule.stats().waiting == 0);
}

TEST_CASE("a retried async push is applied once") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("w", {1}));
  AsyncApplier rule({.max_staleness = -1, .policy = StalenessPolicy::kRefuse, .total_workers = 1}, &store,
                    NullLogger());
  CHECK(OutcomeOf(PushNow(rule, 0, 0, {Dense("w", {1}, {5})})) == PushOutcome::kApplied);
  CHECK(OutcomeOf(PushNow(rule, 0, 0, {Dense("w", {1}, {5})})) == PushOutcome::kDuplicate);
  CHECK(Values(store, "w") == std::vector<float>{-5});
  CHECK(rule.stats().duplicates == 1);
  CHECK(rule.global_step() == 1);
}

TEST_CASE("two pushes of one worker from the same step (prefetch: seq 0, then 1) are both applied; resends are not") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("w", {1}));
  AsyncApplier rule({.max_staleness = -1, .policy = StalenessPolicy::kRefuse, .total_workers = 1}, &store,
                    NullLogger());
  CHECK(OutcomeOf(PushNow(rule, 0, 0, {Dense("w", {1}, {1})}, 0)) == PushOutcome::kApplied);
  CHECK(OutcomeOf(PushNow(rule, 0, 0, {Dense("w", {1}, {2})}, 1)) == PushOutcome::kApplied);
  CHECK(rule.global_step() == 2);
  // Resends after a broken connection carry the same (step, seq): nothing changes.
  CHECK(OutcomeOf(PushNow(rule, 0, 0, {Dense("w", {1}, {2})}, 1)) == PushOutcome::kDuplicate);
  CHECK(OutcomeOf(PushNow(rule, 0, 0, {Dense("w", {1}, {1})}, 0)) == PushOutcome::kDuplicate);
  // The next pushes: from step 1 (the first push's answer), then step 2 again twice.
  CHECK(OutcomeOf(PushNow(rule, 0, 1, {Dense("w", {1}, {4})}, 0)) == PushOutcome::kApplied);
  CHECK(OutcomeOf(PushNow(rule, 0, 1, {Dense("w", {1}, {4})}, 0)) == PushOutcome::kDuplicate);
  CHECK(OutcomeOf(PushNow(rule, 0, 0, {Dense("w", {1}, {8})}, 5)) == PushOutcome::kDuplicate);  // an older step
  CHECK(Values(store, "w") == std::vector<float>{-7});
  CHECK(rule.global_step() == 3);
  CHECK(rule.stats().duplicates == 4);
  CHECK(rule.stats().accepted == 3);
}

TEST_CASE("the wait policy holds a push by its step; a resend of the held (step, seq) joins it, seq 1 does not") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("w", {1}));
  AsyncApplier rule({.max_staleness = 0, .policy = StalenessPolicy::kWait, .total_workers = 2}, &store,
                    NullLogger());
  // Worker 0 pushes from step 0 and is then one step ahead of worker 1 (clock 0).
  CHECK(OutcomeOf(PushNow(rule, 0, 0, {Dense("w", {1}, {1})}, 0)) == PushOutcome::kApplied);
  std::vector<StatusOr<PushResult>> answers;
  auto keep = [&](StatusOr<PushResult> r) { answers.push_back(std::move(r)); };
  rule.Push(PushRequest{0, 1, {Dense("w", {1}, {2})}, 0}, keep);  // held: step 1 - slowest 0 > 0
  rule.Push(PushRequest{0, 1, {Dense("w", {1}, {2})}, 0}, keep);  // its resend joins it
  rule.Push(PushRequest{0, 1, {Dense("w", {1}, {4})}, 1}, keep);  // a second push from step 1: held too
  CHECK(answers.empty());
  CHECK(rule.stats().waiting == 2);
  CHECK(OutcomeOf(PushNow(rule, 1, 1, {Dense("w", {1}, {8})}, 0)) == PushOutcome::kApplied);  // worker 1 catches up
  REQUIRE(answers.size() == 3);
  for (const auto& a : answers) CHECK(OutcomeOf(a) == PushOutcome::kApplied);
  CHECK(Values(store, "w") == std::vector<float>{-15});
  CHECK(rule.global_step() == 4);
  CHECK(rule.stats().duplicates == 0);
}

TEST_CASE("concurrent async pushes from many threads all land exactly once") {
  VariableStore store(Sgd(1.0), nullptr);
  CreateOrDie(store, ZerosSpec("a", {64}));
  CreateOrDie(store, ZerosSpec("b", {64}));
  constexpr int kThreads = 4, kPushes = 200;
  AsyncApplier rule({.max_staleness = -1, .policy = StalenessPolicy::kRefuse, .total_workers = kThreads}, &store,
                    NullLogger());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w)
    threads.emplace_back([&, w] {
      for (int i = 0; i < kPushes; ++i) {
        // Tag each push with the step read just before (as a pull would).
        const int64_t tag = rule.global_step();
        std::vector<Gradient> grads = {Dense(w % 2 ? "a" : "b", {64}, std::vector<float>(64, 1.0f))};
        if (i % 3 == 0) grads.push_back(Dense(w % 2 ? "b" : "a", {64}, std::vector<float>(64, 1.0f)));
        StatusOr<PushResult> r = PushNow(rule, w, tag, std::move(grads));
        if (!r.ok() || r->outcome != PushOutcome::kApplied) ++failures;
      }
    });
  for (std::thread& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(rule.global_step() == kThreads * kPushes);
  // Each variable: 2 threads x 200 own pushes + 2 threads x 67 extra pushes.
  const float expected = -(2 * kPushes + 2 * 67);
  for (const char* name : {"a", "b"})
    for (float v : Values(store, name)) CHECK(v == expected);
}

}  // namespace flowps::ps

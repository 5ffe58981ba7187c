#include <catch2/catch.hpp>

#include "worker/checkpoint_trigger.h"

using namespace flowps;

TEST_CASE("the chief's checkpoint policy is due every K steps or every T seconds, whichever comes first") {
  using Clock = CheckpointPolicy::Clock;
  const Clock::time_point t0 = Clock::now();
  CheckpointPolicy policy(100, 60.0, t0);
  CHECK(!policy.Due(99, t0 + std::chrono::seconds(10)));
  CHECK(policy.Due(100, t0 + std::chrono::seconds(10)));
  policy.Saved(100, t0 + std::chrono::seconds(10));
  CHECK(!policy.Due(150, t0 + std::chrono::seconds(69)));
  CHECK(policy.Due(150, t0 + std::chrono::seconds(70)));
  CheckpointPolicy never(0, 0, t0);
  CHECK(!never.Due(1000000, t0 + std::chrono::hours(100)));
}

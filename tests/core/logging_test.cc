#include <catch2/catch.hpp>

#include <spdlog/spdlog.h>

#include "core/logging.h"

using namespace flowps;

TEST_CASE("a component logger sends its lines to the hub with task, level and component") {
  LogHub hub("/job:worker/task:3", /*backlog_lines=*/3);
  auto logger = MakeLogger("worker", {hub.sink()}, "debug");
  logger->debug("step {} done", 7);
  logger->trace("not at this level");
  auto backlog = hub.Backlog();
  REQUIRE(backlog.size() == 1);
  CHECK(backlog[0].task == "/job:worker/task:3");
  CHECK(backlog[0].level == "debug");
  CHECK(backlog[0].logger == "worker");
  CHECK(backlog[0].message == "step 7 done");
  CHECK(backlog[0].time_ns > 0);
  // Loggers are not put in spdlog's global registry.
  CHECK(spdlog::get("worker") == nullptr);
}

TEST_CASE("the hub keeps only the most recent lines for late subscribers") {
  LogHub hub("/job:ps/task:0", /*backlog_lines=*/3);
  auto logger = MakeLogger("ps", {hub.sink()});
  for (int i = 0; i < 5; ++i) logger->info("line {}", i);
  auto backlog = hub.Backlog();
  REQUIRE(backlog.size() == 3);
  CHECK(backlog.front().message == "line 2");
  CHECK(backlog.back().message == "line 4");
}

TEST_CASE("a subscriber gets each line once, after the backlog it was handed") {
  LogHub hub("/job:ps/task:0");
  hub.Publish(LogRecord{1, "", "info", "ps", "old"});
  std::vector<LogRecord> backlog;
  auto sub = hub.Subscribe(10, &backlog);
  hub.Publish(LogRecord{2, "", "info", "ps", "new"});
  REQUIRE(backlog.size() == 1);
  CHECK(backlog[0].message == "old");
  std::vector<LogRecord> got;
  int woken = 0;
  CHECK(sub->TakeOrArm(10, &got, [&] { ++woken; }) == 1);
  CHECK(got[0].message == "new");
  // Nothing queued: the wake is armed and fires once on the next line.
  got.clear();
  CHECK(sub->TakeOrArm(10, &got, [&] { ++woken; }) == 0);
  hub.Publish(LogRecord{3, "", "info", "ps", "a"});
  hub.Publish(LogRecord{4, "", "info", "ps", "b"});
  CHECK(woken == 1);
  hub.Unsubscribe(sub);
  hub.Publish(LogRecord{5, "", "info", "ps", "after"});
  CHECK(hub.subscriber_count() == 0);
}

TEST_CASE("an unknown log level is recognised as such") {
  CHECK(IsLogLevel("warn"));
  CHECK_FALSE(IsLogLevel("loud"));
}

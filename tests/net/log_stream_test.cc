#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>

#include <kj/async-io.h>
#include <spdlog/logger.h>

#include "net/log_stream.h"
#include "net/rpc_client.h"
#include "test_server.h"

using namespace flowps;
using flowps::test::ClientFor;
using flowps::test::TestTask;

namespace {

// Runs the event loop in short steps until `done` holds, at most `steps` times.
template <typename Pred>
bool TurnUntil(kj::AsyncIoContext& io, Pred done, int steps = 2000) {
  for (int i = 0; i < steps && !done(); ++i) io.provider->getTimer().afterDelay(5 * kj::MILLISECONDS).wait(io.waitScope);
  return done();
}

std::vector<std::string> Messages(const std::vector<LogRecord>& lines) {
  std::vector<std::string> m;
  for (const auto& r : lines) m.push_back(r.task + " " + r.level + " [" + r.logger + "] " + r.message);
  return m;
}

}  // namespace

TEST_CASE("log lines from two tasks reach one subscriber, each naming its task and level") {
  TestTask ps("/job:ps/task:0");
  TestTask worker("/job:worker/task:0");
  test::LogInfo(ps, "ps before subscribing");
  test::LogInfo(worker, "worker before subscribing");

  auto io = kj::setupAsyncIo();
  RpcClient ps_client(io, ClientFor(*ps.server));
  RpcClient worker_client(io, ClientFor(*worker.server));
  std::vector<LogRecord> lines;
  LogFollower follower({&ps_client, &worker_client}, {[&](const LogRecord& r) { lines.push_back(r); }, nullptr, nullptr});
  size_t reached = follower.Start(/*follow=*/true).wait(io.waitScope);
  CHECK(reached == 2);

  test::LogInfo(worker, "worker after subscribing");
  ps.logger->warn("ps after subscribing");
  auto has = [&](const std::string& m) {
    auto all = Messages(lines);
    return std::find(all.begin(), all.end(), m) != all.end();
  };
  REQUIRE(TurnUntil(io, [&] {
    return has("/job:worker/task:0 info [net] worker after subscribing") &&
           has("/job:ps/task:0 warning [net] ps after subscribing");
  }));
  CHECK(has("/job:ps/task:0 info [net] ps before subscribing"));
  CHECK(has("/job:worker/task:0 info [net] worker before subscribing"));
  // Every line arrives once.
  auto all = Messages(lines);
  std::sort(all.begin(), all.end());
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
  for (const auto& r : lines) CHECK(r.time_ns > 0);
}

TEST_CASE("a subscriber too slow for the task loses lines, counted, and the task never waits for it") {
  LogHub hub("/job:ps/task:0");
  auto sub = hub.Subscribe(4);
  for (int i = 0; i < 10; ++i) hub.Publish(LogRecord{i, "", "info", "ps", "line " + std::to_string(i)});
  std::vector<LogRecord> got;
  CHECK(sub->TakeOrArm(100, &got, nullptr) == 4);
  CHECK(got.front().message == "line 0");
  CHECK(sub->dropped() == 6);
  // The backlog still has every line.
  CHECK(hub.Backlog().size() == 10);
}

namespace {

// A receiver that holds its first call until released.
class StalledReceiver final : public wire::LogReceiver::Server {
 public:
  StalledReceiver(size_t* received, uint64_t* dropped, kj::ForkedPromise<void>* gate)
      : received_(received), dropped_(dropped), gate_(gate) {}
  kj::Promise<void> lines(LinesContext context) override {
    *received_ += context.getParams().getLines().size();
    *dropped_ += context.getParams().getDropped();
    return gate_->addBranch();
  }

 private:
  size_t* received_;
  uint64_t* dropped_;
  kj::ForkedPromise<void>* gate_;
};

}  // namespace

TEST_CASE("over RPC, a stalled subscriber is sent what fits its queue and told how many lines it lost") {
  TestTask task("/job:ps/task:0");
  auto io = kj::setupAsyncIo();
  RpcClient client(io, ClientFor(*task.server));
  auto session = client.GetSession().wait(io.waitScope);
  size_t received = 0;
  uint64_t dropped = 0;
  auto paf = kj::newPromiseAndFulfiller<void>();
  auto gate = paf.promise.fork();
  auto request = session.subscribeLogsRequest();
  request.setReceiver(kj::heap<StalledReceiver>(&received, &dropped, &gate));
  request.setCapacity(8);
  auto subscription = request.send().wait(io.waitScope).getSubscription();

  const int kLines = 200;
  for (int i = 0; i < kLines; ++i) test::LogInfo(task, "line " + std::to_string(i));
  REQUIRE(TurnUntil(io, [&] { return received > 0; }));
  paf.fulfiller->fulfill();
  REQUIRE(TurnUntil(io, [&] { return received + dropped == kLines; }));
  CHECK(dropped > 0);
  CHECK(received <= 8 + 1 + 256);
  CHECK(task.hub.subscriber_count() == 1);
}

TEST_CASE("a subscriber that vanishes is forgotten and the task keeps logging") {
  TestTask task("/job:ps/task:0");
  {
    auto io = kj::setupAsyncIo();
    RpcClient client(io, ClientFor(*task.server));
    std::vector<LogRecord> lines;
    LogFollower follower({&client}, {[&](const LogRecord& r) { lines.push_back(r); }, nullptr, nullptr});
    REQUIRE(follower.Start(true).wait(io.waitScope) == 1);
    CHECK(task.hub.subscriber_count() == 1);
  }  // the connection closes here
  for (int i = 0; i < 2000 && task.hub.subscriber_count() != 0; ++i) {
    test::LogInfo(task, "still logging");
    usleep(1000);
  }
  CHECK(task.hub.subscriber_count() == 0);
}

TEST_CASE("a followed stream whose task restarts resumes, without repeating lines") {
  auto task = std::make_unique<TestTask>("/job:ps/task:0");
  const std::string address = task->server->address();
  test::LogInfo(*task, "first life");
  auto io = kj::setupAsyncIo();
  RpcClient client(io, ClientFor(*task->server));
  std::vector<LogRecord> lines;
  int errors = 0, resumed = 0;
  LogFollowerCallbacks callbacks;
  callbacks.on_line = [&](const LogRecord& r) { lines.push_back(r); };
  callbacks.on_error = [&](const std::string&, const Status&) { ++errors; };
  callbacks.on_resumed = [&](const std::string&) { ++resumed; };
  LogFollower follower({&client}, callbacks);
  REQUIRE(follower.Start(/*follow=*/true, std::chrono::milliseconds(20)).wait(io.waitScope) == 1);

  task.reset();
  REQUIRE(TurnUntil(io, [&] { return errors == 1; }));
  task = std::make_unique<TestTask>("/job:ps/task:0", 256, address);
  test::LogInfo(*task, "second life");
  auto count = [&](const std::string& m) {
    return std::count_if(lines.begin(), lines.end(), [&](const LogRecord& r) { return r.message == m; });
  };
  REQUIRE(TurnUntil(io, [&] { return count("second life") == 1; }));
  CHECK(resumed == 1);
  CHECK(errors == 1);
  CHECK(count("first life") == 1);
}

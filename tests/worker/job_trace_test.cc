// JobTrace (the chief's side of `flowps submit --trace N`) against a live
// trace service: a ps shard's TraceRecorder served on loopback, and the
// chief's own recorder. A span still in flight at one collection is in the
// next; the last collection of a job waits for it, and gives up at its bound.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <kj/async-io.h>

#include "core/cluster_spec.h"
#include "core/logging.h"
#include "core/thread_pool.h"
#include "core/trace.h"
#include "net/rpc_server.h"
#include "net/trace_service.h"
#include "worker/job_trace.h"

using namespace flowps;

namespace {

constexpr const char* kToken = "trace-test-token";

// A ps shard that serves only its "trace" service.
struct TracedPs {
  TraceRecorder recorder{SpanIdBase(0)};
  LogHub hub{"/job:ps/task:0"};
  std::unique_ptr<ThreadPool> pool = NewAsioThreadPool(1);
  std::unique_ptr<RpcServer> server;

  TracedPs() {
    RpcServerOptions o;
    o.bind_address = "127.0.0.1:0";
    o.token = kToken;
    o.task_name = "/job:ps/task:0";
    o.pool = pool.get();
    o.logger = MakeLogger("net", {hub.sink()}, "warn");
    ServiceFactories services;
    services["trace"] = [this](ServiceEnv&) { return NewTraceService(&recorder); };
    auto started = RpcServer::Start(o, services);
    REQUIRE(started.ok());
    server = std::move(started).value();
  }
};

// The chief (worker 0, not dialed) and the shard.
ClusterSpec Spec(const RpcServer& ps) {
  ClusterSpec spec;
  spec.token = kToken;
  spec.ps.push_back(TaskSpec{"ps", 0, "127.0.0.1", ps.port(), {}});
  spec.workers.push_back(TaskSpec{"worker", 0, "127.0.0.1", 1, {"cpu:0"}});
  return spec;
}

struct Chief {
  explicit Chief(const RpcServer& ps)
      : spec(Spec(ps)), trace(io, spec, 0, &recorder, path, log.get()) {}
  ~Chief() { std::remove(path.c_str()); }

  std::string File() const {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // The trace events of the file named `name` ("apply").
  int Spans(const std::string& name) const {
    std::istringstream lines(File());
    int n = 0;
    for (std::string line; std::getline(lines, line);)
      if (line.find("\"name\":\"" + name + "\"") != std::string::npos && line.find("\"ph\":\"X\"") != std::string::npos)
        ++n;
    return n;
  }

  kj::AsyncIoContext io = kj::setupAsyncIo();
  LogHub hub{"/job:worker/task:0"};
  std::shared_ptr<spdlog::logger> log = MakeLogger("worker", {hub.sink()}, "info");
  TraceRecorder recorder{SpanIdBase(1)};
  std::string path = "/tmp/flowps_job_trace_test_" + std::to_string(::getpid()) + ".json";
  ClusterSpec spec;
  JobTrace trace;
};

int WarningsNaming(const LogHub& hub, const std::string& text) {
  int n = 0;
  for (const LogRecord& r : hub.Backlog())
    if (r.message.find(text) != std::string::npos) ++n;
  return n;
}

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST_CASE("a shard's apply still in flight at one collection is in the next, and the last one waits for it") {
  TracedPs ps;
  Chief chief(*ps.server);
  // The worker's RPC of step 3 is over; the shard's apply under it is not yet.
  TraceContext worker{&chief.recorder, 0, 0, 3};
  TraceScope rpc(worker.OnTrack("rpc ps:0"), "pushPull", "rpc", "ps:0");
  auto apply = std::make_unique<TraceScope>(TraceContext{&ps.recorder, 0, rpc.id(), 3}.OnTrack("ps"), "apply", "ps");
  rpc.End();

  REQUIRE(chief.trace.Collect().ok());  // mid-job: does not wait
  CHECK(chief.Spans("pushPull") == 1);
  CHECK(chief.Spans("apply") == 0);
  CHECK(chief.File().find("\"in_flight\":1") != std::string::npos);  // the file says what it lacks

  std::thread shard([&apply] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    apply.reset();  // the apply ends after the collection began
  });
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(chief.trace.Collect(std::chrono::milliseconds(20000)).ok());
  shard.join();
  CHECK(SecondsSince(start) < 10);  // it ended with the span, not at the bound
  CHECK(chief.Spans("apply") == 1);
  CHECK(chief.Spans("pushPull") == 1);  // each span once, over the two collections
  CHECK(chief.File().find("\"step\":3") != std::string::npos);
  CHECK(chief.File().find("\"in_flight\":1") == std::string::npos);
  CHECK(WarningsNaming(chief.hub, "still in flight") == 0);
}

TEST_CASE("a span that never ends holds the last collection no longer than its bound, which is logged") {
  TracedPs ps;
  Chief chief(*ps.server);
  TraceHold hung(&ps.recorder);  // e.g. a worker whose traced step never ends
  TraceScope(TraceContext{&ps.recorder, 0, 0, 1}.OnTrack("ps"), "aggregate", "ps").End();
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(chief.trace.Collect(std::chrono::milliseconds(300)).ok());
  CHECK(SecondsSince(start) < 5);
  CHECK(chief.Spans("aggregate") == 1);  // what was there is written
  CHECK(chief.File().find("\"in_flight\":1") != std::string::npos);
  CHECK(WarningsNaming(chief.hub, "spans still in flight on ps:0 after 300 ms") == 1);
}

// The log stream over RPC: the task side (a subscription that pushes a
// LogHub's lines to a remote LogReceiver) and the reader side (LogFollower,
// which subscribes to many tasks and hands their lines to one callback).
//
// Threads: everything here runs on one KJ event loop thread (the RpcServer's
// on the task side, the caller's on the reader side). The LogHub is fed from
// any thread; it wakes the loop through a cross-thread fulfiller.
//
// Flow control: one `lines` call per subscription is in flight at a time. While
// it is, new lines wait in the subscriber's bounded queue; lines beyond it are
// dropped and counted, so a slow or vanished reader costs the task nothing but
// that queue. A reader whose call fails is unsubscribed.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <kj/async.h>

#include "core/logging.h"
#include "core/status.h"
#include "net/gate.capnp.h"

namespace flowps {

class RpcClient;

void WriteLogLine(const LogRecord& record, wire::LogLine::Builder out);
LogRecord ReadLogLine(wire::LogLine::Reader in);

// Task side: the capability returned by Session.subscribeLogs. While it is
// held, the lines `subscriber` (of `hub`) queues go to `receiver` in batches of
// at most `batch_lines`. Dropping it unsubscribes. `hub` must outlive it.
wire::LogSubscription::Client NewLogSubscription(LogHub& hub, std::shared_ptr<LogSubscriber> subscriber,
                                                 wire::LogReceiver::Client receiver, size_t batch_lines = 256);

struct LogFollowerCallbacks {
  std::function<void(const LogRecord&)> on_line;
  // `task` dropped `count` lines this reader was too slow for.
  std::function<void(const std::string& task, uint64_t count)> on_dropped;
  // A task could not be reached or its stream broke (once per outage).
  std::function<void(const std::string& address, const Status& why)> on_error;
  // With follow: the stream of a task that failed is back.
  std::function<void(const std::string& address)> on_resumed;
};

// Reader side: the merged stream of several tasks.
class LogFollower {
 public:
  // `clients` must outlive the follower; `capacity` is each task's queue for us.
  LogFollower(std::vector<RpcClient*> clients, LogFollowerCallbacks callbacks, uint32_t capacity = 4096);
  ~LogFollower();

  // Subscribes to every task. Resolves once every reachable task's backlog has
  // been delivered, merged in time order, to the number of tasks reached.
  // With `follow`, later lines keep arriving (in arrival order) while the
  // follower lives; a task that cannot be reached or whose stream breaks is
  // tried again every `retry`, and its lines resume without repeats.
  kj::Promise<size_t> Start(bool follow, std::chrono::milliseconds retry = std::chrono::milliseconds(1000));

 private:
  class Receiver;
  struct Delivery;
  struct Stream;
  using Backlog = kj::Maybe<std::vector<LogRecord>>;
  kj::Promise<Backlog> Subscribe(size_t i);
  kj::Promise<void> Watch(size_t i);
  kj::Promise<void> Retry(size_t i);

  std::vector<RpcClient*> clients_;
  LogFollowerCallbacks callbacks_;
  uint32_t capacity_;
  bool follow_ = false;
  std::chrono::milliseconds retry_{1000};
  std::shared_ptr<Delivery> delivery_;  // shared with the receivers, which may outlive us
  std::vector<std::shared_ptr<Stream>> streams_;
  kj::Vector<kj::Promise<void>> watchers_;
};

}  // namespace flowps

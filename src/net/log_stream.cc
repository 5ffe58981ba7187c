#include "net/log_stream.h"

#include <algorithm>

#include "net/rpc_client.h"
#include "net/rpc_common.h"

namespace flowps {

void WriteLogLine(const LogRecord& record, wire::LogLine::Builder out) {
  out.setTimeNs(record.time_ns);
  out.setTask(record.task);
  out.setLevel(record.level);
  out.setLogger(record.logger);
  out.setMessage(record.message);
}

LogRecord ReadLogLine(wire::LogLine::Reader in) {
  LogRecord r;
  r.time_ns = in.getTimeNs();
  r.task = in.getTask();
  r.level = in.getLevel();
  r.logger = in.getLogger();
  r.message = in.getMessage();
  return r;
}

namespace {

class LogSubscriptionImpl final : public wire::LogSubscription::Server {
 public:
  LogSubscriptionImpl(LogHub& hub, std::shared_ptr<LogSubscriber> subscriber, wire::LogReceiver::Client receiver,
                      size_t batch_lines)
      : hub_(hub),
        subscriber_(std::move(subscriber)),
        receiver_(kj::mv(receiver)),
        batch_lines_(batch_lines),
        pump_(Pump().eagerlyEvaluate([this](kj::Exception&&) {
          // The reader is gone or failed: stop queueing for it.
          hub_.Unsubscribe(subscriber_);
        })) {}

  ~LogSubscriptionImpl() noexcept(false) { hub_.Unsubscribe(subscriber_); }

 private:
  kj::Promise<void> Pump() {
    std::vector<LogRecord> lines;
    auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
    auto wake = std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<void>>>(kj::mv(paf.fulfiller));
    if (subscriber_->TakeOrArm(batch_lines_, &lines, [wake]() { (*wake)->fulfill(); }) == 0)
      return paf.promise.then([this]() { return Pump(); });
    auto request = receiver_.linesRequest();
    auto out = request.initLines(static_cast<unsigned>(lines.size()));
    for (unsigned i = 0; i < lines.size(); ++i) WriteLogLine(lines[i], out[i]);
    uint64_t dropped = subscriber_->dropped();
    request.setDropped(dropped - reported_dropped_);
    reported_dropped_ = dropped;
    return request.send().ignoreResult().then([this]() { return Pump(); });
  }

  LogHub& hub_;
  std::shared_ptr<LogSubscriber> subscriber_;
  wire::LogReceiver::Client receiver_;
  size_t batch_lines_;
  uint64_t reported_dropped_ = 0;
  kj::Promise<void> pump_;  // last: it uses the members above
};

}  // namespace

wire::LogSubscription::Client NewLogSubscription(LogHub& hub, std::shared_ptr<LogSubscriber> subscriber,
                                                 wire::LogReceiver::Client receiver, size_t batch_lines) {
  return kj::heap<LogSubscriptionImpl>(hub, std::move(subscriber), kj::mv(receiver), batch_lines);
}

// Receives one task's streamed lines. Until the merged backlog has been
// delivered it holds them back, so that no streamed line comes before it.
class LogFollower::Receiver final : public wire::LogReceiver::Server {
 public:
  struct Shared {
    const LogFollowerCallbacks* callbacks;
    bool backlog_done = false;
    std::vector<LogRecord> held;
    std::vector<std::pair<std::string, uint64_t>> held_drops;

    void Line(LogRecord r) {
      if (backlog_done)
        callbacks->on_line(r);
      else
        held.push_back(std::move(r));
    }
    void Dropped(const std::string& task, uint64_t n) {
      if (!callbacks->on_dropped) return;
      if (backlog_done)
        callbacks->on_dropped(task, n);
      else
        held_drops.emplace_back(task, n);
    }
    void Release() {
      backlog_done = true;
      for (auto& r : held) callbacks->on_line(r);
      for (auto& [task, n] : held_drops) Dropped(task, n);
      held.clear();
      held_drops.clear();
    }
  };

  Receiver(std::shared_ptr<Shared> shared, std::string address)
      : shared_(std::move(shared)), address_(std::move(address)) {}

  kj::Promise<void> lines(LinesContext context) override {
    auto params = context.getParams();
    std::string task = address_;
    for (auto line : params.getLines()) {
      LogRecord r = ReadLogLine(line);
      task = r.task;
      shared_->Line(std::move(r));
    }
    if (params.getDropped() > 0) shared_->Dropped(task, params.getDropped());
    return kj::READY_NOW;
  }

 private:
  std::shared_ptr<Shared> shared_;
  std::string address_;
};

LogFollower::LogFollower(std::vector<RpcClient*> clients, LogFollowerCallbacks callbacks, uint32_t capacity)
    : clients_(std::move(clients)), callbacks_(std::move(callbacks)), capacity_(capacity) {}

LogFollower::~LogFollower() = default;

kj::Promise<size_t> LogFollower::Start(bool follow) {
  auto shared = std::make_shared<Receiver::Shared>();
  shared->callbacks = &callbacks_;
  using Backlog = kj::Maybe<std::vector<LogRecord>>;
  kj::Vector<kj::Promise<Backlog>> per_task;
  for (RpcClient* client : clients_) {
    std::string address = client->options().address;
    auto p = client->GetSession()
                 .then([this, client, follow, shared, address](wire::Session::Client session) {
                   auto request = session.subscribeLogsRequest();
                   if (follow) {
                     request.setReceiver(kj::heap<Receiver>(shared, address));
                     request.setCapacity(capacity_);
                   }
                   return client->Call(request.send(), "subscribeLogs");
                 })
                 .then([this, follow](capnp::Response<wire::Session::SubscribeLogsResults>&& response) -> Backlog {
                   if (follow) subscriptions_.push_back(response.getSubscription());
                   std::vector<LogRecord> lines;
                   for (auto line : response.getBacklog()) lines.push_back(ReadLogLine(line));
                   return kj::mv(lines);
                 })
                 .catch_([this, address](kj::Exception&& e) -> Backlog {
                   if (callbacks_.on_error) callbacks_.on_error(address, StatusFromException(e, address));
                   return nullptr;
                 });
    per_task.add(kj::mv(p));
  }
  return kj::joinPromises(per_task.releaseAsArray()).then([this, shared](kj::Array<Backlog>&& backlogs) {
    std::vector<LogRecord> merged;
    size_t reached = 0;
    for (auto& b : backlogs) {
      KJ_IF_MAYBE(lines, b) {
        ++reached;
        merged.insert(merged.end(), lines->begin(), lines->end());
      }
    }
    std::stable_sort(merged.begin(), merged.end(),
                     [](const LogRecord& a, const LogRecord& b) { return a.time_ns < b.time_ns; });
    for (const LogRecord& r : merged) callbacks_.on_line(r);
    shared->Release();
    return reached;
  });
}

}  // namespace flowps

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

// Hands lines to the callbacks. Until the merged backlog has been delivered
// it holds streamed lines back, so that none comes before the backlog.
struct LogFollower::Delivery {
  LogFollowerCallbacks callbacks;
  bool backlog_done = false;
  std::vector<LogRecord> held;
  std::vector<std::pair<std::string, uint64_t>> held_drops;

  void Line(LogRecord r) {
    if (backlog_done)
      callbacks.on_line(r);
    else
      held.push_back(std::move(r));
  }
  void Dropped(const std::string& task, uint64_t n) {
    if (!callbacks.on_dropped) return;
    if (backlog_done)
      callbacks.on_dropped(task, n);
    else
      held_drops.emplace_back(task, n);
  }
  void Release() {
    backlog_done = true;
    for (auto& r : held) callbacks.on_line(r);
    for (auto& [task, n] : held_drops) callbacks.on_dropped(task, n);
    held.clear();
    held_drops.clear();
  }
};

// One task's stream: what the follower knows of it.
struct LogFollower::Stream {
  std::string address;
  int64_t last_time_ns = 0;  // of the newest line delivered, to skip repeats after a resubscription
  bool failed = false;       // in an outage already reported
  wire::LogSubscription::Client subscription = nullptr;
};

// Receives one task's streamed lines.
class LogFollower::Receiver final : public wire::LogReceiver::Server {
 public:
  Receiver(std::shared_ptr<Delivery> delivery, std::shared_ptr<Stream> stream)
      : delivery_(std::move(delivery)), stream_(std::move(stream)) {}

  kj::Promise<void> lines(LinesContext context) override {
    auto params = context.getParams();
    std::string task = stream_->address;
    for (auto line : params.getLines()) {
      LogRecord r = ReadLogLine(line);
      task = r.task;
      stream_->last_time_ns = std::max(stream_->last_time_ns, r.time_ns);
      delivery_->Line(std::move(r));
    }
    if (params.getDropped() > 0) delivery_->Dropped(task, params.getDropped());
    return kj::READY_NOW;
  }

 private:
  std::shared_ptr<Delivery> delivery_;
  std::shared_ptr<Stream> stream_;
};

LogFollower::LogFollower(std::vector<RpcClient*> clients, LogFollowerCallbacks callbacks, uint32_t capacity)
    : clients_(std::move(clients)), capacity_(capacity), delivery_(std::make_shared<Delivery>()) {
  delivery_->callbacks = std::move(callbacks);
  for (RpcClient* c : clients_) {
    streams_.push_back(std::make_shared<Stream>());
    streams_.back()->address = c->options().address;
  }
}

LogFollower::~LogFollower() = default;

kj::Promise<LogFollower::Backlog> LogFollower::Subscribe(size_t i) {
  RpcClient* client = clients_[i];
  std::shared_ptr<Stream> stream = streams_[i];
  // Backlog lines up to here were delivered before; streamed lines of the new
  // subscription may arrive before its backlog and must not move this mark.
  const int64_t delivered_until = stream->last_time_ns;
  return client->GetSession()
      .then([this, client, stream](wire::Session::Client session) {
        auto request = session.subscribeLogsRequest();
        if (follow_) {
          request.setReceiver(kj::heap<Receiver>(delivery_, stream));
          request.setCapacity(capacity_);
        }
        return client->Call(request.send(), "subscribeLogs");
      })
      .then([this, stream, delivered_until](capnp::Response<wire::Session::SubscribeLogsResults>&& response) -> Backlog {
        if (follow_) stream->subscription = response.getSubscription();
        std::vector<LogRecord> lines;
        for (auto line : response.getBacklog())
          if (line.getTimeNs() > delivered_until) lines.push_back(ReadLogLine(line));
        for (const auto& r : lines) stream->last_time_ns = std::max(stream->last_time_ns, r.time_ns);
        return kj::mv(lines);
      })
      .catch_([this, stream](kj::Exception&& e) -> Backlog {
        if (!stream->failed && delivery_->callbacks.on_error)
          delivery_->callbacks.on_error(stream->address, StatusFromException(e, stream->address));
        stream->failed = true;
        return nullptr;
      });
}

kj::Promise<void> LogFollower::Watch(size_t i) {
  return clients_[i]->WhenBroken().then(
      [this, i]() { return Retry(i); },
      [this, i](kj::Exception&&) { return Retry(i); });
}

kj::Promise<void> LogFollower::Retry(size_t i) {
  std::shared_ptr<Stream> stream = streams_[i];
  if (!stream->failed) {
    stream->subscription = nullptr;
    stream->failed = true;
    if (delivery_->callbacks.on_error)
      delivery_->callbacks.on_error(stream->address, Unavailable(stream->address + ": the log stream broke"));
  }
  return clients_[i]
      ->timer()
      .afterDelay(static_cast<int64_t>(retry_.count()) * kj::MILLISECONDS)
      .then([this, i]() { return Subscribe(i); })
      .then([this, i, stream](Backlog backlog) -> kj::Promise<void> {
        KJ_IF_MAYBE(lines, backlog) {
          stream->failed = false;
          if (delivery_->callbacks.on_resumed) delivery_->callbacks.on_resumed(stream->address);
          for (const LogRecord& r : *lines) delivery_->Line(r);
          return Watch(i);
        }
        return Retry(i);
      });
}

kj::Promise<size_t> LogFollower::Start(bool follow, std::chrono::milliseconds retry) {
  follow_ = follow;
  retry_ = retry;
  kj::Vector<kj::Promise<Backlog>> per_task;
  for (size_t i = 0; i < clients_.size(); ++i) per_task.add(Subscribe(i));
  return kj::joinPromises(per_task.releaseAsArray()).then([this](kj::Array<Backlog>&& backlogs) {
    std::vector<LogRecord> merged;
    size_t reached = 0;
    for (size_t i = 0; i < backlogs.size(); ++i) {
      KJ_IF_MAYBE(lines, backlogs[i]) {
        ++reached;
        merged.insert(merged.end(), lines->begin(), lines->end());
        if (follow_) watchers_.add(Watch(i).eagerlyEvaluate(nullptr));
      } else if (follow_) {
        watchers_.add(Retry(i).eagerlyEvaluate(nullptr));
      }
    }
    std::stable_sort(merged.begin(), merged.end(),
                     [](const LogRecord& a, const LogRecord& b) { return a.time_ns < b.time_ns; });
    for (const LogRecord& r : merged) delivery_->callbacks.on_line(r);
    delivery_->Release();
    return reached;
  });
}

}  // namespace flowps

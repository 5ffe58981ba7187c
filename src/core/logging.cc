#include "core/logging.h"

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <algorithm>
#include <chrono>

namespace flowps {

struct LogHub::State {
  std::string task_name;
  size_t backlog_lines;
  mutable std::mutex mu;
  std::deque<LogRecord> backlog;                          // guarded by mu
  std::vector<std::shared_ptr<LogSubscriber>> subscribers;  // guarded by mu

  void Publish(LogRecord record) {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& s : subscribers) s->Offer(record);
    if (backlog_lines == 0) return;
    if (backlog.size() == backlog_lines) backlog.pop_front();
    backlog.push_back(std::move(record));
  }
};

namespace {

// The spdlog side of a LogHub. spdlog's base_sink serialises calls with its mutex.
class HubSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit HubSink(std::shared_ptr<LogHub::State> state) : state_(std::move(state)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  std::shared_ptr<LogHub::State> state_;
};

}  // namespace

void HubSink::sink_it_(const spdlog::details::log_msg& msg) {
  LogRecord r;
  r.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(msg.time.time_since_epoch()).count();
  r.task = state_->task_name;
  auto level = spdlog::level::to_string_view(msg.level);
  r.level.assign(level.data(), level.size());
  r.logger.assign(msg.logger_name.data(), msg.logger_name.size());
  r.message.assign(msg.payload.data(), msg.payload.size());
  state_->Publish(std::move(r));
}

LogSinkPtr NewConsoleSink(const std::string& task_name) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  // Each line shows time, task, level and component.
  sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
      "%Y-%m-%d %H:%M:%S.%e " + task_name + " %^%l%$ [%n] %v"));
  return sink;
}

bool IsLogLevel(const std::string& level) {
  for (const char* l : {"trace", "debug", "info", "warn", "error"})
    if (level == l) return true;
  return false;
}

std::shared_ptr<spdlog::logger> MakeLogger(const std::string& component, const LogSinks& sinks,
                                           const std::string& level) {
  auto logger = std::make_shared<spdlog::logger>(component, sinks.begin(), sinks.end());
  logger->set_level(IsLogLevel(level) ? spdlog::level::from_str(level) : spdlog::level::info);
  logger->flush_on(spdlog::level::warn);
  return logger;
}

size_t LogSubscriber::TakeOrArm(size_t max, std::vector<LogRecord>* out, std::function<void()> wake) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = std::min(max, queue_.size());
  for (size_t i = 0; i < n; ++i) {
    out->push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  if (n == 0 && !closed_) wake_ = std::move(wake);
  return n;
}

uint64_t LogSubscriber::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

void LogSubscriber::Offer(const LogRecord& r) {
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    if (queue_.size() >= capacity_) {
      ++dropped_;
      return;
    }
    queue_.push_back(r);
    wake.swap(wake_);
  }
  if (wake) wake();
}

void LogSubscriber::Close() {
  std::function<void()> wake;
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  wake.swap(wake_);  // destroyed after the lock is released
}

LogHub::LogHub(std::string task_name, size_t backlog_lines)
    : task_name_(std::move(task_name)), state_(std::make_shared<State>()) {
  state_->task_name = task_name_;
  state_->backlog_lines = backlog_lines;
}

LogSinkPtr LogHub::sink() { return std::make_shared<HubSink>(state_); }

std::shared_ptr<LogSubscriber> LogHub::Subscribe(size_t capacity, std::vector<LogRecord>* backlog) {
  auto s = std::make_shared<LogSubscriber>(std::max<size_t>(capacity, 1));
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->subscribers.push_back(s);
  if (backlog != nullptr) backlog->assign(state_->backlog.begin(), state_->backlog.end());
  return s;
}

void LogHub::Unsubscribe(const std::shared_ptr<LogSubscriber>& subscriber) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    auto& subs = state_->subscribers;
    subs.erase(std::remove(subs.begin(), subs.end(), subscriber), subs.end());
  }
  subscriber->Close();
}

size_t LogHub::subscriber_count() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->subscribers.size();
}

std::vector<LogRecord> LogHub::Backlog() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return {state_->backlog.begin(), state_->backlog.end()};
}

void LogHub::Publish(LogRecord record) {
  record.task = task_name_;
  state_->Publish(std::move(record));
}

}  // namespace flowps

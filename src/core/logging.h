// Logging: the sinks a process logs to, and the log hub that serves its lines
// to subscribers (over RPC, see net/log_service.h).
//
// main() creates the sinks once (console + the hub's sink) and passes them
// down; each component makes its own logger from them with MakeLogger
// ("net", "ps", "worker", "exec"). Loggers are never registered in spdlog's
// global registry and nothing uses spdlog's default logger.
//
// spdlog stays out of this header (it is heavy): the types are declared only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace spdlog {
class logger;
namespace sinks {
class sink;
}  // namespace sinks
}  // namespace spdlog

namespace flowps {

using LogSinkPtr = std::shared_ptr<spdlog::sinks::sink>;
using LogSinks = std::vector<LogSinkPtr>;

// A colored stderr sink: "2026-11-21 23:59:01.123 /job:ps/task:0 info [net] message".
LogSinkPtr NewConsoleSink(const std::string& task_name);
// A logger named `component` writing to `sinks`, at `level` ("trace", "debug",
// "info", "warn", "error"; an unknown level means info). Not registered globally.
std::shared_ptr<spdlog::logger> MakeLogger(const std::string& component, const LogSinks& sinks,
                                           const std::string& level = "info");
// False unless `level` is one of the names above.
bool IsLogLevel(const std::string& level);

// One log line as subscribers see it.
struct LogRecord {
  int64_t time_ns = 0;  // wall clock, nanoseconds since the Unix epoch
  std::string task;     // "/job:ps/task:0"
  std::string level;    // "info", "warn", ...
  std::string logger;   // the component: "net", "ps", ...
  std::string message;
};

// What a subscriber holds: a bounded queue the hub appends to. When the queue
// is full the newest line is dropped and counted, so a slow or vanished
// reader never blocks the task that logs.
// Thread safety: every method may be called from any thread.
class LogSubscriber {
 public:
  explicit LogSubscriber(size_t capacity) : capacity_(capacity) {}

  // Moves up to `max` queued lines into *out. If none is queued, arms `wake`
  // instead: it will be called once, from the logging thread, when the next
  // line arrives (it must not block). Returns the number of lines taken.
  size_t TakeOrArm(size_t max, std::vector<LogRecord>* out, std::function<void()> wake);
  // Lines dropped so far because the queue was full.
  uint64_t dropped() const;
  size_t capacity() const { return capacity_; }

 private:
  friend class LogHub;
  void Offer(const LogRecord& r);
  // Stops delivery: the hub forgets the subscriber and the armed wake is dropped.
  void Close();

  const size_t capacity_;
  mutable std::mutex mu_;
  std::deque<LogRecord> queue_;        // guarded by mu_
  uint64_t dropped_ = 0;               // guarded by mu_
  std::function<void()> wake_;         // guarded by mu_
  bool closed_ = false;                // guarded by mu_
};

// LogHub: fans each line a task logs out to its subscribers, and keeps the
// last `backlog_lines` lines for a subscriber that joins late.
// Thread safety: every method may be called from any thread. Publishing
// takes the hub's mutex and each subscriber's mutex briefly, never blocks on a reader.
class LogHub {
 public:
  LogHub(std::string task_name, size_t backlog_lines = 256);
  LogHub(const LogHub&) = delete;
  LogHub& operator=(const LogHub&) = delete;

  const std::string& task_name() const { return task_name_; }
  // The spdlog sink to add to the process's sinks; it publishes here. The sink
  // holds a reference to the hub's state, so it may outlive the hub.
  LogSinkPtr sink();
  // Adds a subscriber whose queue holds at most `capacity` lines. With
  // `backlog`, also copies the kept lines there, atomically with subscribing:
  // every line is either in the backlog or delivered to the subscriber, once.
  std::shared_ptr<LogSubscriber> Subscribe(size_t capacity, std::vector<LogRecord>* backlog = nullptr);
  void Unsubscribe(const std::shared_ptr<LogSubscriber>& subscriber);
  size_t subscriber_count() const;
  // The kept recent lines, oldest first.
  std::vector<LogRecord> Backlog() const;
  void Publish(LogRecord record);

 // The shared state behind the hub and its sink (defined in logging.cc).
  struct State;

 private:
  std::string task_name_;
  std::shared_ptr<State> state_;
};

}  // namespace flowps

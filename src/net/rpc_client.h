// RpcClient: a logged-in connection to one task.
//
// Threads: an RpcClient belongs to the thread whose KJ event loop (the
// kj::AsyncIoContext passed in) it was made on; use it only there. It is not
// thread-safe. Other threads reach it through that loop's kj::Executor.
//
// Connection: made on first use (connect + login, bounded by connect_timeout),
// kept, and made again on the next use after it broke (reconnect). Calls that
// were in flight when it broke fail with DISCONNECTED (Status Unavailable);
// they are not retried, since a push may not be idempotent.
//
// TLS: with options.tls set, every connection is mutual TLS
// (net/tls_transport.h); the handshake is part of connect and bounded by
// connect_timeout, and the token login follows it as without TLS.
//
// Deadlines: Call() races a request against call_timeout and cancels it on
// expiry (Status DeadlineExceeded). Both ends read with RpcReaderOptions().
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <capnp/capability.h>
#include <kj/async-io.h>

#include "core/status.h"
#include "core/tls_settings.h"
#include "net/gate.capnp.h"
#include "net/rpc_common.h"

namespace flowps {

struct RpcClientOptions {
  std::string address;  // "host:port" of the task
  std::string token;    // the cluster token
  std::optional<TlsSettings> tls;  // set: dial over mutual TLS
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds call_timeout{10000};
};

struct ClusterSpec;
struct TaskSpec;
// How a client of `spec` dials `task`: its address, the cluster's token and TLS.
RpcClientOptions ClientOptionsFor(const ClusterSpec& spec, const TaskSpec& task, std::chrono::milliseconds connect_timeout,
                                  std::chrono::milliseconds call_timeout);

// A task's health as its Session reports it.
struct TaskHealth {
  std::string task;
  uint32_t pid = 0;
  double uptime_seconds = 0;
  std::vector<std::string> services;
  std::vector<std::string> devices;
};

class TlsTransport;

class RpcClient {
 public:
  RpcClient(kj::AsyncIoContext& io, RpcClientOptions options);
  ~RpcClient();
  RpcClient(const RpcClient&) = delete;
  RpcClient& operator=(const RpcClient&) = delete;

  const RpcClientOptions& options() const { return options_; }
  kj::Timer& timer();

  // The logged-in session, connecting and logging in first when needed.
  kj::Promise<wire::Session::Client> GetSession();
  // The named service ("ps", "worker"); cast it: `cap.castAs<wire::Ps>()`.
  kj::Promise<capnp::Capability::Client> GetService(std::string name);
  kj::Promise<TaskHealth> Health();

  // `promise` under this client's call deadline; `what` names the call in the
  // error. A DISCONNECTED failure marks the connection broken, so that the
  // next use connects again.
  template <typename T>
  kj::Promise<T> Call(kj::Promise<T> promise, std::string what) {
    return WithDeadline(timer(), options_.call_timeout, kj::mv(promise), options_.address + ": " + what)
        .catch_([this](kj::Exception&& e) -> kj::Promise<T> {
          if (e.getType() == kj::Exception::Type::DISCONNECTED) MarkBroken();
          return kj::mv(e);
        });
  }

  // Resolves (or fails) when the current connection breaks; at once when
  // there is none.
  kj::Promise<void> WhenBroken();

  // Drops the connection; the next use connects again.
  void Disconnect();

 private:
  struct Connection;
  kj::Promise<void> Connect();
  void MarkBroken();

  kj::AsyncIoContext& io_;
  RpcClientOptions options_;
  std::unique_ptr<TlsTransport> tls_;  // made on the first connect when options_.tls is set
  kj::Own<Connection> connection_;   // null until connected or after a break
  kj::Maybe<kj::ForkedPromise<void>> connecting_;
};

// Makes one call to each of `tasks` in parallel, each through a client of its
// own (ClientOptionsFor; connect and call each bounded by `timeout`), and
// returns once every call has ended. `call(i, client)` makes the call to
// tasks[i] and handles its outcome, failures included: a failure it lets
// through is dropped. The clients live until CallEach returns. Runs on io's
// event loop, on the calling thread.
void CallEach(kj::AsyncIoContext& io, const ClusterSpec& spec, const std::vector<TaskSpec>& tasks,
              std::chrono::milliseconds timeout, const std::function<kj::Promise<void>(size_t, RpcClient&)>& call);

}  // namespace flowps

// RpcServer: the listening side of a task (flowps-ps, flowps-worker).
//
// Threads: the server owns ONE thread that runs a KJ event loop; it accepts
// connections, runs every RPC of every connection, and serves the log stream.
// Nothing else may touch its capabilities. Compute does not run there: a
// service sends it to the ThreadPool with RunOnPool (net/pool_bridge.h) and the
// result comes back to the loop through a cross-thread fulfiller (KJ's
// executor). Start() and the destructor are called from the owning thread
// (main); they are not thread-safe against each other.
//
// Access: a connection sees only the Gate. A correct cluster token buys a
// Session (health, log stream, named services); a wrong or missing one gets
// kLoginRefused and nothing else. Each connection reads with RpcReaderOptions(),
// so a malformed or oversized message from a peer closes that connection only.
//
// Strangers (ConnectionLimits): until a connection has logged in it may send
// only small messages, must keep sending and must log in within a deadline,
// and only so many such connections are kept (a new one closes the oldest).
// Wrong logins are answered after a delay that grows with the failures of the
// connection and of its peer address, one login at a time per connection, and
// are logged at most a few lines per 10 s.
//
// TLS (options.tls): each accepted stream goes through a mutual-TLS server
// handshake (net/tls_transport.h) under the same guard: the connection counts
// as not logged in from accept, so the login and idle deadlines bound the
// handshake too, and the connection limit applies. A failed handshake closes
// that connection only and is logged like a refused login (rate-limited).
// The token login then follows over TLS as without it. When the server cannot go on (its
// listener failed, e.g. accept() kept failing for accept_stall_limit) it calls
// on_stopped, so that a daemon exits and its supervisor restarts it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <capnp/capability.h>
#include <kj/async.h>
#include <kj/timer.h>

#include "core/status.h"
#include "core/tls_settings.h"
#include "net/rpc_common.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace flowps {

class LogHub;
class ResponseKeeper;
class ThreadPool;

// What a service factory gets. It is called once, on the server's loop thread,
// before the first connection is accepted; the references live as long as the server.
struct ServiceEnv {
  const kj::Executor& loop;  // the loop that runs the service's calls
  kj::Timer& timer;          // the loop's timer (for deadlines)
  ThreadPool& pool;          // where compute goes
  // Keeps what a response references alive until it is written (pass it to
  // TensorWireOptions::Response). Null where calls do not come through an
  // RpcServer's connections (then responses copy).
  std::shared_ptr<ResponseKeeper> keeper;
};

// Makes the capability registered under a name, e.g.
//   services["ps"] = [&](ServiceEnv& env) -> capnp::Capability::Client {
//     return kj::heap<PsServiceImpl>(env, store);
//   };
using ServiceFactory = std::function<capnp::Capability::Client(ServiceEnv&)>;
using ServiceFactories = std::map<std::string, ServiceFactory>;

// The largest message a daemon reads from a connection that has not logged in
// (a login is a few hundred bytes).
constexpr uint64_t kMaxMessageBytesBeforeLogin = uint64_t{64} << 10;

// What a connection that has not logged in may do. Defaults suit a daemon.
struct ConnectionLimits {
  // Connections open without a login; one more closes the oldest of them.
  // 0: a quarter of the descriptor limit (RLIMIT_NOFILE), between 4 and 256.
  size_t max_unauthenticated = 0;
  std::chrono::milliseconds login_timeout{10000};      // from accept to a successful login
  std::chrono::milliseconds idle_before_login{5000};   // no byte received for this long
  uint64_t max_message_bytes_before_login = kMaxMessageBytesBeforeLogin;
  // After login: the reader's limit (RpcReaderOptions, 8 GiB). Lower it only
  // where no peer sends more (a test, the fuzz harness).
  uint64_t max_message_words_after_login = kTraversalLimitWords;
  std::chrono::milliseconds login_failure_delay{100};  // the first wrong login's answer; doubles per failure
  std::chrono::milliseconds max_login_failure_delay{5000};
  // accept() failing without a break for this long (e.g. out of descriptors
  // held by logged-in peers) stops the server.
  std::chrono::milliseconds accept_stall_limit{10000};
};

struct RpcServerOptions {
  std::string bind_address;            // "host:port"; port 0 picks a free port
  std::string token;                   // the cluster token logins must present
  std::optional<TlsSettings> tls;      // set: every connection is mutual TLS
  std::string task_name;               // "/job:ps/task:0", reported by health
  std::vector<std::string> devices;    // full device names, reported by health
  LogHub* logs = nullptr;              // served to log subscribers; may be null; must outlive the server
  ThreadPool* pool = nullptr;          // required; must outlive the server
  std::shared_ptr<spdlog::logger> logger;  // the "net" logger; required
  ConnectionLimits limits;
  // Called once on the loop thread when the server stops on its own (not from
  // the destructor), with why; it then serves nothing. May be empty.
  std::function<void(const Status&)> on_stopped;
};

class RpcServer {
 public:
  // Starts the loop thread, makes the services, binds and listens. Returns once
  // the port is bound, or why it could not be (Unavailable naming the address).
  static StatusOr<std::unique_ptr<RpcServer>> Start(RpcServerOptions options, ServiceFactories services);

  // Stops: closes the listener and every connection, then joins the loop thread.
  ~RpcServer();
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  int port() const;
  // "host:port" with the bound port.
  std::string address() const;

  struct Impl;

 private:
  explicit RpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowps

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
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <capnp/capability.h>
#include <kj/async.h>
#include <kj/timer.h>

#include "core/status.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace flowps {

class LogHub;
class ThreadPool;

// What a service factory gets. It is called once, on the server's loop thread,
// before the first connection is accepted; the references live as long as the server.
struct ServiceEnv {
  const kj::Executor& loop;  // the loop that runs the service's calls
  kj::Timer& timer;          // the loop's timer (for deadlines)
  ThreadPool& pool;          // where compute goes
};

// Makes the capability registered under a name, e.g.
//   services["ps"] = [&](ServiceEnv& env) -> capnp::Capability::Client {
//     return kj::heap<PsServiceImpl>(env, store);
//   };
using ServiceFactory = std::function<capnp::Capability::Client(ServiceEnv&)>;
using ServiceFactories = std::map<std::string, ServiceFactory>;

struct RpcServerOptions {
  std::string bind_address;            // "host:port"; port 0 picks a free port
  std::string token;                   // the cluster token logins must present
  std::string task_name;               // "/job:ps/task:0", reported by health
  std::vector<std::string> devices;    // full device names, reported by health
  LogHub* logs = nullptr;              // served to log subscribers; may be null; must outlive the server
  ThreadPool* pool = nullptr;          // required; must outlive the server
  std::shared_ptr<spdlog::logger> logger;  // the "net" logger; required
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

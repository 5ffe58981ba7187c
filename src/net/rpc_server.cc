#include "net/rpc_server.h"

#include <spdlog/logger.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <algorithm>
#include <chrono>
#include <list>
#include <future>
#include <thread>

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include "core/cluster_spec.h"
#include "core/logging.h"
#include "core/thread_pool.h"
#include "net/connection_guard.h"
#include "net/gate.capnp.h"
#include "net/log_stream.h"
#include "net/login_throttle.h"
#include "net/message_stream.h"
#include "net/rpc_common.h"
#include "net/tls_transport.h"
#include "net/vat_network.h"

namespace flowps {
namespace {

// What every session and connection of the server shares; lives on the loop thread.
struct ConnState;
struct ServerState {
  ServerState(const RpcServerOptions& o, kj::Timer& t, size_t max_unauthenticated)
      : options(&o),
        timer(t),
        max_unauthenticated(max_unauthenticated),
        throttle(o.limits.login_failure_delay, o.limits.max_login_failure_delay) {}
  const RpcServerOptions* options;
  kj::Timer& timer;
  size_t max_unauthenticated;
  std::map<std::string, capnp::Capability::Client> services;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::list<ConnState*> unauthenticated;  // oldest first
  LoginThrottle throttle;
  RateLimitedLog login_log;    // refused logins
  RateLimitedLog stranger_log; // connections closed before login, accept failures, failed TLS handshakes
  TlsTransport* tls = nullptr;  // set when every connection is TLS
  std::shared_ptr<ResponseKeeper> keeper;  // what the services' responses reference (ServiceEnv)

  // Writes a warning unless too many were written lately.
  template <typename... Args>
  void WarnLimited(RateLimitedLog& log, fmt::format_string<Args...> format, Args&&... args) {
    size_t suppressed = 0;
    if (!log.Allow(std::chrono::steady_clock::now(), &suppressed)) return;
    std::string line = fmt::format(format, std::forward<Args>(args)...);
    if (suppressed > 0) line += fmt::format(" ({} similar lines were not logged)", suppressed);
    options->logger->warn("{}", line);
  }
};

// One connection as the server tracks it; shared by the connection and its
// Gate (which may be released later than the connection).
struct ConnState : public kj::Refcounted {
  ConnState(ServerState& s, GuardedStream& st, std::string p, kj::Own<kj::PromiseFulfiller<void>> c)
      : server(&s), stream(&st), peer(std::move(p)), accepted(s.timer.now()), closer(kj::mv(c)) {
    position = server->unauthenticated.insert(server->unauthenticated.end(), this);
  }
  // Logged in: no longer counted, watched or limited.
  void Authenticate() {
    stream->Authenticate();
    Unlist();
  }
  void Unlist() {
    if (server != nullptr && listed) server->unauthenticated.erase(position);
    listed = false;
  }
  // Closes the connection (its task ends with `why`).
  void Close(const std::string& why) {
    if (closer->isWaiting()) closer->reject(KJ_EXCEPTION(DISCONNECTED, kj::str("connection closed: ", why.c_str())));
  }
  // The connection is gone; the Gate may still hold this.
  void Detach() {
    Unlist();
    server = nullptr;
    stream = nullptr;
  }
  std::string PeerAddress() const { return peer.substr(0, peer.rfind(':')); }

  ServerState* server;
  GuardedStream* stream;
  std::string peer;  // "ip:port"
  kj::TimePoint accepted;
  kj::Own<kj::PromiseFulfiller<void>> closer;
  std::list<ConnState*>::iterator position;
  bool listed = true;
  bool login_pending = false;
  int failures = 0;
};

bool TokenMatches(kj::StringPtr given, const std::string& expected) {
  // Constant time in the token's content.
  if (given.size() != expected.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < expected.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ expected[i]);
  return diff == 0;
}

class SessionImpl final : public wire::Session::Server {
 public:
  explicit SessionImpl(ServerState& state) : state_(state) {}

  kj::Promise<void> health(HealthContext context) override {
    auto h = context.getResults().initHealth();
    const RpcServerOptions& o = *state_.options;
    h.setTask(o.task_name);
    h.setPid(static_cast<uint32_t>(getpid()));
    h.setUptimeSeconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - state_.started).count());
    auto services = h.initServices(static_cast<unsigned>(state_.services.size()));
    unsigned i = 0;
    for (const auto& [name, cap] : state_.services) services.set(i++, name);
    auto devices = h.initDevices(static_cast<unsigned>(o.devices.size()));
    for (unsigned d = 0; d < o.devices.size(); ++d) devices.set(d, o.devices[d]);
    return kj::READY_NOW;
  }

  kj::Promise<void> service(ServiceContext context) override {
    std::string name = context.getParams().getName();
    auto it = state_.services.find(name);
    if (it == state_.services.end()) {
      std::string known;
      for (const auto& [n, cap] : state_.services) known += (known.empty() ? "" : ", ") + n;
      KJ_FAIL_REQUIRE(kj::str("no service named '", name.c_str(), "' on ", state_.options->task_name.c_str(),
                              "; it serves: ", known.empty() ? "(none)" : known.c_str()));
    }
    context.getResults().setCap(it->second);
    return kj::READY_NOW;
  }

  kj::Promise<void> subscribeLogs(SubscribeLogsContext context) override {
    LogHub* hub = state_.options->logs;
    auto params = context.getParams();
    auto results = context.getResults();
    if (hub == nullptr) {
      results.initBacklog(0);
      return kj::READY_NOW;
    }
    std::vector<LogRecord> backlog;
    if (params.hasReceiver()) {
      size_t capacity = params.getCapacity() == 0 ? 1024 : params.getCapacity();
      auto subscriber = hub->Subscribe(capacity, &backlog);
      results.setSubscription(NewLogSubscription(*hub, kj::mv(subscriber), params.getReceiver()));
    } else {
      backlog = hub->Backlog();
    }
    auto lines = results.initBacklog(static_cast<unsigned>(backlog.size()));
    for (unsigned i = 0; i < backlog.size(); ++i) WriteLogLine(backlog[i], lines[i]);
    return kj::READY_NOW;
  }

 private:
  ServerState& state_;
};

class GateImpl final : public wire::Gate::Server {
 public:
  explicit GateImpl(kj::Own<ConnState> conn) : conn_(kj::mv(conn)) {}

  kj::Promise<void> login(LoginContext context) override {
    ConnState& c = *conn_;
    if (c.server == nullptr) return KJ_EXCEPTION(DISCONNECTED, "the connection is closing");
    ServerState& s = *c.server;
    if (c.login_pending) {
      // Pipelined guesses would bypass the delay: one login at a time.
      c.Close("a second login while one was pending");
      return KJ_EXCEPTION(FAILED, kLoginRefused);
    }
    auto params = context.getParams();
    if (params.hasToken() && TokenMatches(params.getToken(), s.options->token)) {
      c.Authenticate();
      context.getResults().setSession(kj::heap<SessionImpl>(s));
      return kj::READY_NOW;
    }
    const int peer_failures = s.throttle.RecordFailure(c.PeerAddress(), std::chrono::steady_clock::now());
    c.failures++;
    const auto delay = s.throttle.DelayFor(std::max(c.failures, peer_failures));
    s.WarnLimited(s.login_log, "refused a login from {}: wrong or missing cluster token ({} lately from {}; answered after {} ms)",
                  c.peer, peer_failures, c.PeerAddress(), delay.count());
    c.login_pending = true;
    return s.timer.afterDelay(delay.count() * kj::MILLISECONDS).then([conn = kj::addRef(c)]() mutable -> kj::Promise<void> {
      conn->login_pending = false;
      if (conn->stream != nullptr) conn->stream->Touch();  // the peer was waiting for this answer
      return KJ_EXCEPTION(FAILED, kLoginRefused);
    });
  }

 private:
  kj::Own<ConnState> conn_;
};

capnp::ReaderOptions ReaderOptionsFor(const ConnectionLimits& limits) {
  capnp::ReaderOptions options = RpcReaderOptions();
  options.traversalLimitInWords = limits.max_message_words_after_login;
  return options;
}

// One accepted connection: its guarded stream, vat network and RPC system.
struct ServerConnection {
  ServerConnection(kj::Own<GuardedStream> s, ServerState& state, std::string peer,
                   kj::Own<kj::PromiseFulfiller<void>> closer)
      : stream(kj::mv(s)),
        conn(kj::refcounted<ConnState>(state, *stream, kj::mv(peer), kj::mv(closer))),
        messages(*stream),
        network(messages, capnp::rpc::twoparty::Side::SERVER, ReaderOptionsFor(state.options->limits), state.keeper),
        rpc(capnp::makeRpcServer(network, kj::heap<GateImpl>(kj::addRef(*conn)))) {}
  ~ServerConnection() { conn->Detach(); }
  kj::Own<GuardedStream> stream;
  kj::Own<ConnState> conn;
  BatchingMessageStream messages;
  KeepingVatNetwork network;  // responses keep what they reference (net/response_keeper.h)
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
};

// Fails when `c` has not logged in within the login timeout or has sent
// nothing for the idle timeout; never resolves once it has logged in.
kj::Promise<void> WatchLogin(ServerState& s, ConnState& c) {
  if (c.stream == nullptr || c.stream->authenticated()) return kj::NEVER_DONE;
  const ConnectionLimits& limits = s.options->limits;
  const kj::TimePoint now = s.timer.now();
  const kj::TimePoint login_by = c.accepted + limits.login_timeout.count() * kj::MILLISECONDS;
  // While its login is being answered (after a delay) the peer waits for us.
  const kj::TimePoint idle_by = c.login_pending ? login_by
                                                : c.stream->last_read() + limits.idle_before_login.count() * kj::MILLISECONDS;
  std::string why;
  if (now >= login_by)
    why = fmt::format("it did not log in within {} ms", limits.login_timeout.count());
  else if (now >= idle_by)
    why = fmt::format("it sent nothing for {} ms before logging in", limits.idle_before_login.count());
  if (!why.empty()) {
    s.WarnLimited(s.stranger_log, "closed the connection from {}: {}", c.peer, why);
    return KJ_EXCEPTION(DISCONNECTED, kj::str("connection closed: ", why.c_str()));
  }
  return s.timer.atTime(std::min(login_by, idle_by)).then([&s, &c]() { return WatchLogin(s, c); });
}

std::string PeerName(kj::AsyncIoStream& stream) {
  struct sockaddr_storage addr = {};
  uint len = sizeof addr;
  try {
    stream.getpeername(reinterpret_cast<struct sockaddr*>(&addr), &len);
  } catch (const kj::Exception&) {
    return "an unknown peer";
  }
  char buf[INET6_ADDRSTRLEN] = {};
  int port = 0;
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    port = ntohs(a->sin6_port);
  } else {
    return "a local peer";
  }
  return std::string(buf) + ":" + std::to_string(port);
}

class ConnectionErrors final : public kj::TaskSet::ErrorHandler {
 public:
  explicit ConnectionErrors(spdlog::logger& logger) : logger_(logger) {}
  void taskFailed(kj::Exception&& e) override {
    logger_.debug("a connection ended: {}", e.getDescription().cStr());
  }

 private:
  spdlog::logger& logger_;
};

}  // namespace

struct RpcServer::Impl {
  RpcServerOptions options;
  ServiceFactories factories;
  std::string host;
  int port = 0;
  std::thread thread;
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> stop;  // set by the loop thread before Start returns
  kj::Maybe<kj::TimePoint> accept_failing_since;

  void Run(std::promise<Status>* started);
  kj::Promise<void> AcceptLoop(kj::ConnectionReceiver& listener, ServerState& state, kj::TaskSet& tasks);
  kj::Promise<void> AcceptFailed(kj::Exception&& e, kj::ConnectionReceiver& listener, ServerState& state,
                                 kj::TaskSet& tasks);
  void Admit(kj::Own<kj::AsyncIoStream> stream, ServerState& state, kj::TaskSet& tasks);
};

// The default cap on connections that have not logged in: a quarter of the
// descriptors this process may open, between 4 and 256.
size_t DefaultMaxUnauthenticated() {
  struct rlimit limit = {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 256;
  return std::clamp<size_t>(static_cast<size_t>(limit.rlim_cur / 4), 4, 256);
}

void RpcServer::Impl::Admit(kj::Own<kj::AsyncIoStream> stream, ServerState& state, kj::TaskSet& tasks) {
  std::string peer = PeerName(*stream);
  options.logger->debug("accepted a connection from {}", peer);
  if (state.unauthenticated.size() >= state.max_unauthenticated) {
    ConnState* oldest = state.unauthenticated.front();
    state.WarnLimited(state.stranger_log, "closed the connection from {}: {} connections had not logged in",
                      oldest->peer, state.unauthenticated.size());
    oldest->Unlist();
    oldest->Close("too many connections had not logged in");
  }
  if (state.tls != nullptr) {
    // The guard reads the decrypted stream; until the handshake is done it
    // sees no byte, so the idle and login deadlines bound the handshake.
    stream = kj::newPromisedStream(
        state.tls->Accept(kj::mv(stream))
            .catch_([&state, peer](kj::Exception&& e) -> kj::Promise<kj::Own<kj::AsyncIoStream>> {
              state.WarnLimited(state.stranger_log, "closed the connection from {}: {}", peer,
                                e.getDescription().cStr());
              return kj::mv(e);
            }));
  }
  auto guarded = kj::heap<GuardedStream>(kj::mv(stream), state.timer, options.limits.max_message_bytes_before_login);
  auto closed = kj::newPromiseAndFulfiller<void>();
  auto conn = kj::heap<ServerConnection>(kj::mv(guarded), state, kj::mv(peer), kj::mv(closed.fulfiller));
  auto done = conn->network.onDisconnect()
                  .exclusiveJoin(kj::mv(closed.promise))
                  .exclusiveJoin(WatchLogin(state, *conn->conn));
  tasks.add(done.attach(kj::mv(conn)));
}

kj::Promise<void> RpcServer::Impl::AcceptLoop(kj::ConnectionReceiver& listener, ServerState& state,
                                              kj::TaskSet& tasks) {
  return kj::evalNow([&listener]() { return listener.accept(); }).then(
      [this, &listener, &state, &tasks](kj::Own<kj::AsyncIoStream>&& stream) {
        accept_failing_since = nullptr;
        Admit(kj::mv(stream), state, tasks);
        return AcceptLoop(listener, state, tasks);
      },
      [this, &listener, &state, &tasks](kj::Exception&& e) {
        return AcceptFailed(kj::mv(e), listener, state, tasks);
      });
}

// accept() failed (e.g. out of descriptors): make room by closing the oldest
// connection that has not logged in and try again shortly; give up when it
// has failed without a break for accept_stall_limit.
kj::Promise<void> RpcServer::Impl::AcceptFailed(kj::Exception&& e, kj::ConnectionReceiver& listener,
                                                ServerState& state, kj::TaskSet& tasks) {
  const kj::TimePoint now = state.timer.now();
  if (accept_failing_since == nullptr) accept_failing_since = now;
  const kj::TimePoint since = KJ_ASSERT_NONNULL(accept_failing_since);
  const auto limit = options.limits.accept_stall_limit;
  if (now - since >= limit.count() * kj::MILLISECONDS)
    return KJ_EXCEPTION(FAILED, kj::str("accept() failed for ", limit.count(), " ms without a break: ",
                                        e.getDescription()));
  state.WarnLimited(state.stranger_log, "cannot accept a connection ({}); {} connections have not logged in",
                    e.getDescription().cStr(), state.unauthenticated.size());
  if (!state.unauthenticated.empty()) {
    ConnState* oldest = state.unauthenticated.front();
    oldest->Unlist();
    oldest->Close("the server is out of descriptors");
  }
  return state.timer.afterDelay(50 * kj::MILLISECONDS).then([this, &listener, &state, &tasks]() {
    return AcceptLoop(listener, state, tasks);
  });
}

void RpcServer::Impl::Run(std::promise<Status>* started) {
  kj::Maybe<kj::Exception> failure = kj::runCatchingExceptions([&]() {
    auto keeper = std::make_shared<ResponseKeeper>();
    auto io = kj::setupAsyncIo();
    ServiceEnv env{kj::getCurrentThreadExecutor(), io.provider->getTimer(), *options.pool, keeper};
    size_t max_unauthenticated = options.limits.max_unauthenticated;
    if (max_unauthenticated == 0) max_unauthenticated = DefaultMaxUnauthenticated();
    ServerState state(options, io.provider->getTimer(), max_unauthenticated);
    state.keeper = keeper;
    std::unique_ptr<TlsTransport> tls;
    if (options.tls.has_value()) {
      auto made = TlsTransport::Make(*options.tls, TlsTransport::Side::kServer);
      if (!made.ok()) KJ_FAIL_REQUIRE(made.status().message().c_str());
      tls = std::move(made).value();
      state.tls = tls.get();
    }
    for (auto& [name, factory] : factories) state.services.emplace(name, factory(env));

    auto address = io.provider->getNetwork().parseAddress(host, static_cast<uint>(port)).wait(io.waitScope);
    kj::Own<kj::ConnectionReceiver> listener = address->listen();
    port = static_cast<int>(listener->getPort());
    auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
    stop = kj::mv(paf.fulfiller);
    ConnectionErrors errors(*options.logger);
    kj::TaskSet connections(errors);
    kj::Promise<void> serving = AcceptLoop(*listener, state, connections);
    started->set_value(Status::OK());
    started = nullptr;
    options.logger->info("{} listening on {}:{}{} (at most {} connections without a login)", options.task_name, host,
                         port, tls != nullptr ? " over mutual TLS" : "", max_unauthenticated);
    paf.promise.exclusiveJoin(kj::mv(serving)).wait(io.waitScope);
  });
  KJ_IF_MAYBE(e, failure) {
    std::string why = e->getDescription().cStr();
    if (started != nullptr) {
      started->set_value(Unavailable("cannot serve " + options.task_name + " on " + host + ":" +
                                     std::to_string(port) + ": " + why));
    } else {
      options.logger->error("the RPC loop stopped: {}", why);
      if (options.on_stopped) options.on_stopped(Unavailable(options.task_name + " stopped serving: " + why));
    }
  }
}

StatusOr<std::unique_ptr<RpcServer>> RpcServer::Start(RpcServerOptions options, ServiceFactories services) {
  if (options.pool == nullptr || options.logger == nullptr)
    return InvalidArgument("RpcServer needs a thread pool and a logger");
  auto impl = std::make_unique<Impl>();
  FLOWPS_RETURN_IF_ERROR(SplitAddress(options.bind_address, &impl->host, &impl->port, /*allow_port_zero=*/true)
                             .WithContext(options.task_name));
  impl->options = std::move(options);
  impl->factories = std::move(services);
  std::promise<Status> started;
  auto started_future = started.get_future();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw, &started]() {
    NameThisThread("rpc-loop");
    raw->Run(&started);
  });
  Status s = started_future.get();
  if (!s.ok()) {
    impl->thread.join();
    return s;
  }
  return std::unique_ptr<RpcServer>(new RpcServer(std::move(impl)));
}

RpcServer::RpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RpcServer::~RpcServer() {
  impl_->stop->fulfill();
  impl_->thread.join();
}

int RpcServer::port() const { return impl_->port; }

std::string RpcServer::address() const { return impl_->host + ":" + std::to_string(impl_->port); }

}  // namespace flowps

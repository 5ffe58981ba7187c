#include "net/rpc_server.h"

#include <spdlog/logger.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <chrono>
#include <future>
#include <thread>

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include "core/cluster_spec.h"
#include "core/logging.h"
#include "core/thread_pool.h"
#include "net/gate.capnp.h"
#include "net/log_stream.h"
#include "net/rpc_common.h"

namespace flowps {
namespace {

// What every session of the server shares; lives on the loop thread.
struct ServerState {
  const RpcServerOptions* options;
  std::map<std::string, capnp::Capability::Client> services;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
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
  GateImpl(ServerState& state, std::string peer) : state_(state), peer_(std::move(peer)) {}

  kj::Promise<void> login(LoginContext context) override {
    auto params = context.getParams();
    if (!params.hasToken() || !TokenMatches(params.getToken(), state_.options->token)) {
      state_.options->logger->warn("refused a login from {}: wrong or missing cluster token", peer_);
      return KJ_EXCEPTION(FAILED, kLoginRefused);
    }
    context.getResults().setSession(kj::heap<SessionImpl>(state_));
    return kj::READY_NOW;
  }

 private:
  ServerState& state_;
  std::string peer_;
};

// One accepted connection: its stream, vat network and RPC system.
struct ServerConnection {
  ServerConnection(kj::Own<kj::AsyncIoStream> s, capnp::Capability::Client gate)
      : stream(kj::mv(s)),
        network(*stream, capnp::rpc::twoparty::Side::SERVER, RpcReaderOptions()),
        rpc(capnp::makeRpcServer(network, kj::mv(gate))) {}
  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
};

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

  void Run(std::promise<Status>* started);
  kj::Promise<void> AcceptLoop(kj::ConnectionReceiver& listener, ServerState& state, kj::TaskSet& tasks);
};

kj::Promise<void> RpcServer::Impl::AcceptLoop(kj::ConnectionReceiver& listener, ServerState& state,
                                              kj::TaskSet& tasks) {
  return listener.accept().then([this, &listener, &state, &tasks](kj::Own<kj::AsyncIoStream>&& stream) {
    std::string peer = PeerName(*stream);
    options.logger->debug("accepted a connection from {}", peer);
    auto conn = kj::heap<ServerConnection>(kj::mv(stream), kj::heap<GateImpl>(state, peer));
    auto done = conn->network.onDisconnect();
    tasks.add(done.attach(kj::mv(conn)));
    return AcceptLoop(listener, state, tasks);
  });
}

void RpcServer::Impl::Run(std::promise<Status>* started) {
  kj::Maybe<kj::Exception> failure = kj::runCatchingExceptions([&]() {
    auto io = kj::setupAsyncIo();
    ServiceEnv env{kj::getCurrentThreadExecutor(), io.provider->getTimer(), *options.pool};
    ServerState state;
    state.options = &options;
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
    options.logger->info("{} listening on {}:{}", options.task_name, host, port);
    paf.promise.exclusiveJoin(kj::mv(serving)).wait(io.waitScope);
  });
  KJ_IF_MAYBE(e, failure) {
    std::string why = e->getDescription().cStr();
    if (started != nullptr)
      started->set_value(Unavailable("cannot serve " + options.task_name + " on " + host + ":" +
                                     std::to_string(port) + ": " + why));
    else
      options.logger->error("the RPC loop stopped: {}", why);
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
  impl->thread = std::thread([raw, &started]() { raw->Run(&started); });
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

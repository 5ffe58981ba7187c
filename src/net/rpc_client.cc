#include "net/rpc_client.h"

#include <capnp/rpc-twoparty.h>
#include <kj/vector.h>

#include "core/cluster_spec.h"
#include "net/message_stream.h"
#include "net/tls_transport.h"

namespace flowps {

struct RpcClient::Connection {
  explicit Connection(kj::Own<kj::AsyncIoStream> s)
      : stream(kj::mv(s)),
        messages(*stream),
        network(messages, capnp::rpc::twoparty::Side::CLIENT, RpcReaderOptions()),
        rpc(capnp::makeRpcClient(network)) {
    capnp::MallocMessageBuilder message(8);
    auto server = message.initRoot<capnp::rpc::twoparty::VatId>();
    server.setSide(capnp::rpc::twoparty::Side::SERVER);
    gate = rpc.bootstrap(server).castAs<wire::Gate>();
    disconnected = network.onDisconnect().fork();
    watch = disconnected.addBranch()
                .then([this]() { broken = true; }, [this](kj::Exception&&) { broken = true; })
                .eagerlyEvaluate(nullptr);
  }

  kj::Own<kj::AsyncIoStream> stream;
  BatchingMessageStream messages;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
  wire::Gate::Client gate = nullptr;
  wire::Session::Client session = nullptr;
  bool broken = false;
  kj::ForkedPromise<void> disconnected = nullptr;  // branches outlive the connection safely
  kj::Promise<void> watch = nullptr;
};

RpcClientOptions ClientOptionsFor(const ClusterSpec& spec, const TaskSpec& task, std::chrono::milliseconds connect_timeout,
                                  std::chrono::milliseconds call_timeout) {
  RpcClientOptions o;
  o.address = task.address();
  o.token = spec.token;
  o.tls = spec.tls;
  o.connect_timeout = connect_timeout;
  o.call_timeout = call_timeout;
  return o;
}

void CallEach(kj::AsyncIoContext& io, const ClusterSpec& spec, const std::vector<TaskSpec>& tasks,
              std::chrono::milliseconds timeout, const std::function<kj::Promise<void>(size_t, RpcClient&)>& call) {
  std::vector<std::unique_ptr<RpcClient>> clients;
  kj::Vector<kj::Promise<void>> calls;
  for (size_t i = 0; i < tasks.size(); ++i) {
    clients.push_back(std::make_unique<RpcClient>(io, ClientOptionsFor(spec, tasks[i], timeout, timeout)));
    calls.add(call(i, *clients.back()).catch_([](kj::Exception&&) {}));
  }
  kj::joinPromises(calls.releaseAsArray()).wait(io.waitScope);
}

RpcClient::RpcClient(kj::AsyncIoContext& io, RpcClientOptions options) : io_(io), options_(std::move(options)) {}

RpcClient::~RpcClient() = default;

kj::Timer& RpcClient::timer() { return io_.provider->getTimer(); }

void RpcClient::Disconnect() { connection_ = nullptr; }

kj::Promise<void> RpcClient::WhenBroken() {
  if (connection_.get() == nullptr || connection_->broken) return kj::READY_NOW;
  return connection_->disconnected.addBranch();
}

void RpcClient::MarkBroken() {
  if (connection_.get() != nullptr) connection_->broken = true;
}

kj::Promise<void> RpcClient::Connect() {
  std::string host;
  int port = 0;
  Status s = SplitAddress(options_.address, &host, &port);
  if (!s.ok()) return KJ_EXCEPTION(FAILED, s.message());
  if (options_.tls.has_value() && tls_ == nullptr) {
    auto made = TlsTransport::Make(*options_.tls, TlsTransport::Side::kClient);
    if (!made.ok()) return KJ_EXCEPTION(FAILED, made.status().message());
    tls_ = std::move(made).value();
  }
  auto connect = io_.provider->getNetwork()
                     .parseAddress(host, static_cast<uint>(port))
                     .then([](kj::Own<kj::NetworkAddress> address) { return address->connect().attach(kj::mv(address)); })
                     .then([this, host](kj::Own<kj::AsyncIoStream> stream) -> kj::Promise<kj::Own<kj::AsyncIoStream>> {
                       if (tls_ == nullptr) return kj::mv(stream);
                       return tls_->Dial(kj::mv(stream), host);
                     })
                     .then([this](kj::Own<kj::AsyncIoStream> stream) {
                       auto conn = kj::heap<Connection>(kj::mv(stream));
                       auto request = conn->gate.loginRequest();
                       request.setToken(options_.token);
                       return request.send().then(
                           [conn = kj::mv(conn)](capnp::Response<wire::Gate::LoginResults>&& r) mutable {
                             conn->session = r.getSession();
                             return kj::mv(conn);
                           });
                     });
  return WithDeadline(timer(), options_.connect_timeout, kj::mv(connect), options_.address + ": connect and login")
      .then([this](kj::Own<Connection> conn) { connection_ = kj::mv(conn); });
}

kj::Promise<wire::Session::Client> RpcClient::GetSession() {
  if (connection_.get() != nullptr && !connection_->broken) return connection_->session;
  connection_ = nullptr;
  if (connecting_ == nullptr) connecting_ = Connect().fork();
  KJ_IF_MAYBE(c, connecting_) {
    return c->addBranch().then(
        [this]() -> kj::Promise<wire::Session::Client> {
          connecting_ = nullptr;
          if (connection_.get() == nullptr) return KJ_EXCEPTION(DISCONNECTED, "the connection broke after login");
          return connection_->session;
        },
        [this](kj::Exception&& e) -> kj::Promise<wire::Session::Client> {
          connecting_ = nullptr;
          return kj::mv(e);
        });
  }
  KJ_UNREACHABLE;
}

kj::Promise<capnp::Capability::Client> RpcClient::GetService(std::string name) {
  return GetSession().then([this, name = kj::mv(name)](wire::Session::Client session) {
    auto request = session.serviceRequest();
    request.setName(name);
    return Call(request.send(), "service '" + name + "'")
        .then([](capnp::Response<wire::Session::ServiceResults>&& r) { return r.getCap(); });
  });
}

kj::Promise<TaskHealth> RpcClient::Health() {
  return GetSession().then([this](wire::Session::Client session) {
    return Call(session.healthRequest().send(), "health")
        .then([](capnp::Response<wire::Session::HealthResults>&& r) {
          auto h = r.getHealth();
          TaskHealth health;
          health.task = h.getTask();
          health.pid = h.getPid();
          health.uptime_seconds = h.getUptimeSeconds();
          for (auto s : h.getServices()) health.services.push_back(s);
          for (auto d : h.getDevices()) health.devices.push_back(d);
          return health;
        });
  });
}

}  // namespace flowps

#include "net/vat_network.h"

#include <kj/debug.h>

namespace flowps {

// capnp's default first segment (MessageBuilder's SUGGESTED_FIRST_SEGMENT_WORDS).
constexpr uint kFirstSegmentWords = 1024;

class KeepingVatNetwork::OutgoingMessage final : public capnp::OutgoingRpcMessage, public kj::Refcounted {
 public:
  OutgoingMessage(KeepingVatNetwork& network, uint first_segment_words)
      : network_(network),
        message_(network.keeper_, first_segment_words == 0 ? kFirstSegmentWords : first_segment_words) {}

  capnp::AnyPointer::Builder getBody() override { return message_.getRoot<capnp::AnyPointer>(); }

  void send() override {
    auto segments = message_.getSegmentsForOutput();
    size_t words = 0;
    for (auto s : segments) words += s.size();
    KJ_REQUIRE(words < network_.traversal_limit_words_, words,
               "this message is larger than the peer's limit on one message; it is not sent");
    network_.stream_.Send(segments, kj::addRef(*this));
  }

  size_t sizeInWords() override { return message_.sizeInWords(); }

 private:
  KeepingVatNetwork& network_;
  KeptMessageBuilder message_;
};

// The wrapped network's connection, with this network's outgoing messages.
class KeepingVatNetwork::KeepingConnection final : public Connection {
 public:
  KeepingConnection(KeepingVatNetwork& network, kj::Own<Connection> inner)
      : network_(network), inner_(kj::mv(inner)) {}

  kj::Own<capnp::RpcFlowController> newStream() override { return inner_->newStream(); }
  capnp::rpc::twoparty::VatId::Reader getPeerVatId() override { return inner_->getPeerVatId(); }
  kj::Own<capnp::OutgoingRpcMessage> newOutgoingMessage(uint first_segment_words) override {
    return kj::refcounted<OutgoingMessage>(network_, first_segment_words);
  }
  kj::Promise<kj::Maybe<kj::Own<capnp::IncomingRpcMessage>>> receiveIncomingMessage() override {
    return inner_->receiveIncomingMessage();
  }
  // The wrapped network waits for its own writes (none) and ends the stream,
  // which writes what was sent before (BatchingMessageStream::end).
  kj::Promise<void> shutdown() override { return inner_->shutdown(); }

 private:
  KeepingVatNetwork& network_;
  kj::Own<Connection> inner_;  // dropping it tells the wrapped network (onDisconnect)
};

KeepingVatNetwork::KeepingVatNetwork(BatchingMessageStream& stream, capnp::rpc::twoparty::Side side,
                                     capnp::ReaderOptions options, std::shared_ptr<ResponseKeeper> keeper)
    : stream_(stream),
      traversal_limit_words_(options.traversalLimitInWords),
      keeper_(std::move(keeper)),
      inner_(stream, side, options) {
  KJ_REQUIRE(keeper_ != nullptr, "KeepingVatNetwork needs a ResponseKeeper");
}

KeepingVatNetwork::~KeepingVatNetwork() noexcept(false) = default;

kj::Own<KeepingVatNetwork::Connection> KeepingVatNetwork::Wrap(kj::Own<Connection> inner) {
  return kj::heap<KeepingConnection>(*this, kj::mv(inner));
}

kj::Maybe<kj::Own<KeepingVatNetwork::Connection>> KeepingVatNetwork::connect(
    capnp::rpc::twoparty::VatId::Reader ref) {
  KJ_IF_MAYBE(inner, inner_.connect(ref)) { return Wrap(kj::mv(*inner)); }
  return nullptr;
}

kj::Promise<kj::Own<KeepingVatNetwork::Connection>> KeepingVatNetwork::accept() {
  return inner_.accept().then([this](kj::Own<Connection> inner) { return Wrap(kj::mv(inner)); });
}

}  // namespace flowps

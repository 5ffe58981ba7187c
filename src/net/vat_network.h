// KeepingVatNetwork: Cap'n Proto's two-party vat network whose outgoing
// messages are KeptMessageBuilders (net/response_keeper.h), so that a service
// can attach to its response what the response references.
//
// It wraps a capnp::TwoPartyVatNetwork for everything but sending: the
// connection handshake (connect/accept), reading, the flow-control window,
// shutdown and onDisconnect are the wrapped network's. Each message is
// written by BatchingMessageStream::Send, which keeps the message (and so its
// attachments) until its bytes have been written, or drops it if the write
// failed; the RPC system drops its own reference once it has sent the
// message. Writes go out in the order send() is called. A message larger
// than the reader's traversal limit is refused in send() (as capnp's network
// does: the peer would close the connection on it).
//
// Threads: belongs to the event loop of `stream`, as the wrapped network.
// `stream` must outlive this object; `keeper` is shared with the messages,
// which may outlive it.
#pragma once

#include <memory>

#include <capnp/rpc-twoparty.h>

#include "net/message_stream.h"
#include "net/response_keeper.h"

namespace flowps {

class KeepingVatNetwork final : public capnp::TwoPartyVatNetworkBase {
 public:
  KeepingVatNetwork(BatchingMessageStream& stream, capnp::rpc::twoparty::Side side, capnp::ReaderOptions options,
                    std::shared_ptr<ResponseKeeper> keeper);
  ~KeepingVatNetwork() noexcept(false);
  KeepingVatNetwork(const KeepingVatNetwork&) = delete;
  KeepingVatNetwork& operator=(const KeepingVatNetwork&) = delete;

  // Resolves when the peer disconnects (the wrapped network's).
  kj::Promise<void> onDisconnect() { return inner_.onDisconnect(); }

  kj::Maybe<kj::Own<Connection>> connect(capnp::rpc::twoparty::VatId::Reader ref) override;
  kj::Promise<kj::Own<Connection>> accept() override;

 private:
  class OutgoingMessage;
  class KeepingConnection;
  kj::Own<Connection> Wrap(kj::Own<Connection> inner);

  BatchingMessageStream& stream_;
  const uint64_t traversal_limit_words_;
  std::shared_ptr<ResponseKeeper> keeper_;
  capnp::TwoPartyVatNetwork inner_;
};

}  // namespace flowps

// ResponseKeeper: keeps what an outgoing Cap'n Proto message references alive
// until Cap'n Proto lets the message go, so that a server can answer with a
// tensor's bytes without copying them (TensorWireOptions::Response).
//
// A message referencing outside memory (Orphanage::referenceExternalData)
// needs that memory until its bytes are in the socket. Cap'n Proto writes a
// response after the call returned, so the service cannot hold it; but the
// message itself lives exactly that long: the RPC system drops its reference
// once it has handed the message over, and the vat network (net/vat_network.h)
// holds it until BatchingMessageStream has written it, or drops it when it
// will not be written (the call was cancelled, the connection failed). So
// what is attached to a message lives as long as the message.
//
// KeptMessageBuilder is that message: a MallocMessageBuilder that tells its
// keeper where its own segments lie. Attach(inside, what) finds the message
// whose own segments hold the address `inside` (e.g. a struct being filled
// in a response) and keeps `what` until that message is destroyed. If no live
// KeptMessageBuilder of this keeper holds it (a call through an in-process
// capability, whose message is Cap'n Proto's own), Attach keeps nothing and
// returns false: the caller must copy instead.
//
// Threads: every method may be called from any thread (a service fills its
// response on the pool); one message is built by one thread at a time, as
// with any MessageBuilder. What was attached is released on the thread that
// destroys the message (the RPC loop). Messages hold a reference to their
// keeper, so either may outlive the other.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <capnp/message.h>

namespace flowps {

class KeptMessageBuilder;

class ResponseKeeper {
 public:
  ResponseKeeper() = default;
  ResponseKeeper(const ResponseKeeper&) = delete;
  ResponseKeeper& operator=(const ResponseKeeper&) = delete;

  // Keeps `what` alive until the live KeptMessageBuilder of this keeper whose
  // own segments hold `inside` is destroyed; false (nothing kept) if none does.
  bool Attach(const void* inside, std::shared_ptr<const void> what);

  // Attachments held now, over all live messages (for tests and benchmarks).
  size_t attached() const;

 private:
  friend class KeptMessageBuilder;
  void AddSegment(kj::ArrayPtr<capnp::word> segment, KeptMessageBuilder* message);
  // Forgets `message`'s segments; returns what was attached to it (dropped by the caller, unlocked).
  std::vector<std::shared_ptr<const void>> Forget(KeptMessageBuilder& message);

  mutable std::mutex mu_;
  struct Segment {
    const capnp::word* end;
    KeptMessageBuilder* message;
  };
  std::map<const capnp::word*, Segment> segments_;  // by first word; guarded by mu_
  size_t attached_ = 0;                               // guarded by mu_
};

// A message whose segments `keeper` knows (see above). Not thread-safe (as
// any MessageBuilder); destroy it on the thread that may drop its attachments.
class KeptMessageBuilder final : public capnp::MallocMessageBuilder {
 public:
  KeptMessageBuilder(std::shared_ptr<ResponseKeeper> keeper, uint first_segment_words);
  ~KeptMessageBuilder() noexcept(false) override;
  KeptMessageBuilder(const KeptMessageBuilder&) = delete;
  KeptMessageBuilder& operator=(const KeptMessageBuilder&) = delete;

  kj::ArrayPtr<capnp::word> allocateSegment(uint minimum_size) override;

 private:
  friend class ResponseKeeper;
  std::shared_ptr<ResponseKeeper> keeper_;
  std::vector<const capnp::word*> segments_;            // first words; guarded by keeper_->mu_
  std::vector<std::shared_ptr<const void>> attached_;   // guarded by keeper_->mu_
};

}  // namespace flowps

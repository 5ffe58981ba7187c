// TlsTransport: kj-tls (Cap'n Proto's TLS over OpenSSL) set up from a
// cluster's TlsSettings (core/tls_settings.h), for one side of connections.
//
// Mutual TLS: the server side presents the settings' certificate and requires
// a client certificate signed by the CA; the client side presents the same
// certificate and accepts only a server certificate signed by the CA that
// names TlsSettings::PeerName(host). Only the CA is trusted (never the
// system's store). A failed handshake fails the returned promise with a
// message that says what was checked.
//
// Threads: make and use a TlsTransport on one thread (the event loop whose
// streams it wraps); it must outlive the promises it returns.
#pragma once

#include <memory>
#include <string>

#include <kj/async-io.h>
#include <kj/compat/tls.h>

#include "core/status.h"
#include "core/tls_settings.h"

namespace flowps {

class TlsTransport {
 public:
  enum class Side { kServer, kClient };

  // InvalidArgument when the PEM texts are refused by kj-tls (LoadTlsSettings
  // has checked them, so this is rare). The caller bounds the handshake's time.
  static StatusOr<std::unique_ptr<TlsTransport>> Make(const TlsSettings& settings, Side side);
  ~TlsTransport();
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  // Server side: the handshake as the server on an accepted stream.
  kj::Promise<kj::Own<kj::AsyncIoStream>> Accept(kj::Own<kj::AsyncIoStream> stream);
  // Client side: the handshake as a client of the task at `host`.
  kj::Promise<kj::Own<kj::AsyncIoStream>> Dial(kj::Own<kj::AsyncIoStream> stream, const std::string& host);

 private:
  TlsTransport(TlsSettings settings, kj::TlsKeypair keypair, kj::TlsCertificate ca, Side side);

  TlsSettings settings_;
  kj::TlsKeypair keypair_;
  kj::TlsCertificate ca_;
  kj::Own<kj::TlsContext> context_;
};

}  // namespace flowps

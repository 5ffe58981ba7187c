#include "net/tls_transport.h"

#include <kj/debug.h>

namespace flowps {

using Wrapped = kj::Promise<kj::Own<kj::AsyncIoStream>>;

StatusOr<std::unique_ptr<TlsTransport>> TlsTransport::Make(const TlsSettings& settings, Side side) {
  std::unique_ptr<TlsTransport> made;
  kj::Maybe<kj::Exception> failed = kj::runCatchingExceptions([&]() {
    kj::TlsKeypair keypair{kj::TlsPrivateKey(kj::StringPtr(settings.key_pem.c_str())),
                           kj::TlsCertificate(kj::StringPtr(settings.cert_pem.c_str()))};
    kj::TlsCertificate ca(kj::StringPtr(settings.ca_pem.c_str()));
    made.reset(new TlsTransport(settings, kj::mv(keypair), kj::mv(ca), side));
  });
  KJ_IF_MAYBE(e, failed) {
    return InvalidArgument("cannot set up TLS with cert '" + settings.files.cert + "', key '" + settings.files.key +
                           "' and ca '" + settings.files.ca + "': " + e->getDescription().cStr());
  }
  return made;
}

TlsTransport::TlsTransport(TlsSettings settings, kj::TlsKeypair keypair, kj::TlsCertificate ca, Side side)
    : settings_(std::move(settings)), keypair_(kj::mv(keypair)), ca_(kj::mv(ca)) {
  kj::TlsContext::Options options;
  options.useSystemTrustStore = false;
  options.trustedCertificates = kj::arrayPtr(&ca_, 1);
  options.defaultKeypair = keypair_;
  options.verifyClients = side == Side::kServer;
  context_ = kj::heap<kj::TlsContext>(kj::mv(options));
}

TlsTransport::~TlsTransport() = default;

kj::Promise<kj::Own<kj::AsyncIoStream>> TlsTransport::Accept(kj::Own<kj::AsyncIoStream> stream) {
  return context_->wrapServer(kj::mv(stream)).catch_([](kj::Exception&& e) -> Wrapped {
    return kj::Exception(e.getType(), __FILE__, __LINE__,
                         kj::str("TLS handshake refused (a client must present a certificate signed by the cluster "
                                 "CA): ", e.getDescription()));
  });
}

kj::Promise<kj::Own<kj::AsyncIoStream>> TlsTransport::Dial(kj::Own<kj::AsyncIoStream> stream,
                                                           const std::string& host) {
  if (IsIpLiteral(settings_.PeerName(host)))
    return KJ_EXCEPTION(FAILED, kj::str("cannot check the TLS certificate of ", host.c_str(),
                                        ": it is an IP address, and certificates are checked against DNS names "
                                        "only (kj-tls); set the cluster's tls.server_name or dial a host name"));
  kj::String name = kj::heapString(settings_.PeerName(host));
  kj::StringPtr checked = name;
  return context_->wrapClient(kj::mv(stream), checked)
      .catch_([checked, host](kj::Exception&& e) -> Wrapped {
        return kj::Exception(e.getType(), __FILE__, __LINE__,
                             kj::str("TLS handshake with ", host.c_str(), " failed (the task's certificate must be signed by the cluster CA "
                                     "and name '", checked, "'): ", e.getDescription()));
      })
      .attach(kj::mv(name));
}

}  // namespace flowps

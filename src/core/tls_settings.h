// TlsSettings: the cluster's TLS material, the `tls:` map of a cluster spec.
//
//   tls:
//     cert: node.pem        # this task's certificate (chain), PEM; relative to the spec's folder
//     key: node.key         # its private key, PEM, unencrypted
//     ca: ca.pem            # the cluster CA: the only issuer trusted, for servers and clients
//     server_name: flowps   # optional: the DNS name every task's certificate is checked against
//
// With TLS every connection is mutual TLS: a daemon presents `cert` and
// accepts only clients whose certificate the CA signed; a client (a worker,
// `flowps status`, ...) presents `cert` too and accepts only a daemon whose
// certificate the CA signed and names the peer (PeerName below). The cluster
// token is still required over TLS.
//
// Loading reads each file (at most 1 MiB), parses it, and checks that the key
// belongs to the certificate and that the CA signed the certificate (so an
// expired or foreign certificate is refused at load, not at the first call).
// TlsSettings is a plain value, safe to read from many threads.
#pragma once

#include <string>

#include "core/status.h"

namespace flowps {

struct TlsFiles {
  std::string cert;         // paths as given (resolved by the caller)
  std::string key;
  std::string ca;
  std::string server_name;  // may be empty
};

struct TlsSettings {
  TlsFiles files;
  std::string cert_pem;  // the files' contents, checked
  std::string key_pem;
  std::string ca_pem;

  // The name a client checks a daemon's certificate against when it dials
  // `host`: server_name when set, else `host` itself. (kj-tls checks DNS
  // names only, so a task addressed by an IP address needs server_name.)
  std::string PeerName(const std::string& host) const {
    return files.server_name.empty() ? host : files.server_name;
  }
};

// Reads and checks the files. On error *bad_key is "cert", "key", "ca" or
// "server_name" (which setting is at fault) and the message names the file.
StatusOr<TlsSettings> LoadTlsSettings(const TlsFiles& files, std::string* bad_key);

// True for an IPv4 or IPv6 address literal ("127.0.0.1", "::1").
bool IsIpLiteral(const std::string& host);

}  // namespace flowps

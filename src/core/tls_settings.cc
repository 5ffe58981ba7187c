#include "core/tls_settings.h"

#include <arpa/inet.h>

#include <memory>
#include <vector>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "core/yaml_reader.h"

namespace flowps {
namespace {

// A PEM file of certificates and a key are a few KiB.
constexpr size_t kMaxPemBytes = size_t{1} << 20;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
struct StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
};
using Certs = std::vector<std::unique_ptr<X509, X509Free>>;

// OpenSSL's last queued error as text, clearing the queue ("" when none).
std::string OpensslError() {
  unsigned long e = ERR_peek_last_error();
  std::string text;
  if (e != 0) {
    char buf[256] = {};
    ERR_error_string_n(e, buf, sizeof buf);
    text = std::string(" (") + buf + ")";
  }
  ERR_clear_error();
  return text;
}

std::unique_ptr<BIO, BioFree> MemoryBio(const std::string& text) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// The file's text; the message says "'<path>' <why>".
StatusOr<std::string> ReadPem(const std::string& path) {
  if (path.empty()) return InvalidArgument("is empty: it must name a PEM file");
  auto text = ReadSmallFile(path, kMaxPemBytes, "the file");
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return NotFound("names '" + path + "', which cannot be read");
    return InvalidArgument("names '" + path + "', which is not a regular file of at most 1 MiB");
  }
  return text;
}

// Every certificate of a PEM text, in order; empty when there is none or one is bad.
Certs ParseCerts(const std::string& pem, std::string* why) {
  Certs certs;
  auto bio = MemoryBio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(x);
  // The loop ends at the end of the text (PEM_R_NO_START_LINE) or at a bad block.
  unsigned long e = ERR_peek_last_error();
  if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
    *why = OpensslError();
    certs.clear();
  }
  ERR_clear_error();
  return certs;
}

// No passphrase prompt: an encrypted key is refused.
int NoPassword(char*, int, int, void*) { return -1; }

Status CheckChain(const Certs& cert, const Certs& ca) {
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  for (const auto& c : ca) X509_STORE_add_cert(store.get(), c.get());
  std::unique_ptr<STACK_OF(X509), StackFree> chain(sk_X509_new_null());
  for (size_t i = 1; i < cert.size(); ++i) sk_X509_push(chain.get(), cert[i].get());
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (!store || !chain || !ctx || X509_STORE_CTX_init(ctx.get(), store.get(), cert[0].get(), chain.get()) != 1)
    return Internal("cannot check the certificate" + OpensslError());
  if (X509_verify_cert(ctx.get()) == 1) return Status::OK();
  std::string why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
  ERR_clear_error();
  return InvalidArgument(why);
}

}  // namespace

bool IsIpLiteral(const std::string& host) {
  std::string h = host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

StatusOr<TlsSettings> LoadTlsSettings(const TlsFiles& files, std::string* bad_key) {
  TlsSettings s;
  s.files = files;
  auto fail = [bad_key](const char* key, const std::string& message) {
    *bad_key = key;
    return InvalidArgument(message);
  };
  if (IsIpLiteral(files.server_name))
    return fail("server_name", "is an IP address, but certificates are checked against DNS names only (kj-tls): "
                               "give a DNS name that every task's certificate lists");

  auto cert_pem = ReadPem(files.cert);
  if (!cert_pem.ok()) return fail("cert", cert_pem.status().message());
  auto key_pem = ReadPem(files.key);
  if (!key_pem.ok()) return fail("key", key_pem.status().message());
  auto ca_pem = ReadPem(files.ca);
  if (!ca_pem.ok()) return fail("ca", ca_pem.status().message());

  std::string why;
  Certs cert = ParseCerts(*cert_pem, &why);
  if (cert.empty()) return fail("cert", "names '" + files.cert + "', which holds no valid PEM certificate" + why);
  Certs ca = ParseCerts(*ca_pem, &why);
  if (ca.empty()) return fail("ca", "names '" + files.ca + "', which holds no valid PEM certificate" + why);

  auto bio = MemoryBio(*key_pem);
  std::unique_ptr<EVP_PKEY, KeyFree> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  if (!key)
    return fail("key", "names '" + files.key + "', which holds no unencrypted PEM private key" + OpensslError());
  if (X509_check_private_key(cert[0].get(), key.get()) != 1) {
    ERR_clear_error();
    return fail("key", "names '" + files.key + "', a key that does not belong to the certificate in '" +
                           files.cert + "'");
  }
  Status chain = CheckChain(cert, ca);
  if (!chain.ok())
    return fail("cert", "names '" + files.cert + "', which the CA in '" + files.ca + "' does not accept: " +
                            chain.message());
  s.cert_pem = *std::move(cert_pem);
  s.key_pem = *std::move(key_pem);
  s.ca_pem = *std::move(ca_pem);
  return s;
}

}  // namespace flowps

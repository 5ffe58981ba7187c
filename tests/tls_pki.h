// A throwaway PKI for the TLS tests, made at test time by
// tests/net/make_test_certs.sh (openssl) in a temporary folder removed at the
// end: ca.pem, node.pem/.key (localhost, 127.0.0.1), other-ca.pem with
// other.pem/.key (a stranger's PKI), unnamed.pem/.key (names only
// "flowps-cluster"). Needs FLOWPS_SOURCE_DIR. available() is false when
// openssl is missing; the tests then pass with a warning (Catch2 v2 cannot skip).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/tls_settings.h"

// Ends the test case (passing, with a warning) when openssl is missing.
#define REQUIRE_PKI(pki)                                                           \
  if (!(pki).available()) {                                                        \
    WARN("openssl is missing: the TLS test is skipped (" << (pki).dir() << ")"); \
    return;                                                                        \
  }

namespace flowps::test {

class TestPki {
 public:
  TestPki() {
    char tmpl[] = "/tmp/flowps_pki_XXXXXX";
    dir_ = mkdtemp(tmpl);
    const std::string command = std::string("bash ") + FLOWPS_SOURCE_DIR + "/tests/net/make_test_certs.sh " + dir_ +
                                " >" + dir_ + "/make.log 2>&1";
    available_ = std::system(command.c_str()) == 0;
  }
  ~TestPki() { std::filesystem::remove_all(dir_); }
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  bool available() const { return available_; }
  const std::string& dir() const { return dir_; }
  std::string Path(const std::string& file) const { return dir_ + "/" + file; }

  // Settings from `name`.pem/.key and `ca`.pem as they are, unchecked (to
  // build clients that LoadTlsSettings would refuse).
  TlsSettings Raw(const std::string& name, const std::string& ca, const std::string& server_name = "") const {
    TlsSettings s;
    s.files = {Path(name + ".pem"), Path(name + ".key"), Path(ca + ".pem"), server_name};
    s.cert_pem = Slurp(s.files.cert);
    s.key_pem = Slurp(s.files.key);
    s.ca_pem = Slurp(s.files.ca);
    return s;
  }

 private:
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string dir_;
  bool available_ = false;
};

}  // namespace flowps::test

// The cluster spec's `tls:` map: files relative to the spec, every problem
// refused at load naming file:line, the key and the path.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "core/cluster_spec.h"
#include "core/tls_settings.h"
#include "tls_pki.h"

using namespace flowps;
using flowps::test::TestPki;

namespace {

const char* kTasks = R"(token_file: cluster.token
jobs:
  ps:
    tasks:
      - address: localhost:7000
  worker:
    tasks:
      - address: localhost:7100
)";

// Parses kTasks (or `tasks`) with `tls` appended, as <pki dir>/c.yaml.
StatusOr<ClusterSpec> WithTls(const TestPki& pki, const std::string& tls, const std::string& tasks = kTasks) {
  std::ofstream(pki.Path("cluster.token")) << "tok3n\n";
  return ParseClusterSpec(tasks + tls, pki.Path("c.yaml"));
}

}  // namespace

TEST_CASE("a spec without tls has none; with tls its files are read relative to the spec") {
  TestPki pki;
  REQUIRE_PKI(pki);
  auto plain = WithTls(pki, "");
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->tls.has_value());

  auto spec = WithTls(pki, "tls:\n  cert: node.pem\n  key: node.key\n  ca: ca.pem\n");
  INFO(spec.status().ToString());
  REQUIRE(spec.ok());
  REQUIRE(spec->tls.has_value());
  CHECK(spec->tls->files.cert == pki.Path("node.pem"));
  CHECK(spec->tls->files.ca == pki.Path("ca.pem"));
  CHECK_THAT(spec->tls->cert_pem, Catch::StartsWith("-----BEGIN CERTIFICATE-----"));
  CHECK_THAT(spec->tls->key_pem, Catch::Contains("PRIVATE KEY-----"));
  CHECK(spec->tls->PeerName("localhost") == "localhost");

  auto named = WithTls(pki, "tls:\n  cert: node.pem\n  key: node.key\n  ca: ca.pem\n  server_name: flowps-cluster\n");
  REQUIRE(named.ok());
  CHECK(named->tls->PeerName("10.0.0.7") == "flowps-cluster");
}

TEST_CASE("each bad tls setting is refused at load naming file, line, key and path") {
  TestPki pki;
  REQUIRE_PKI(pki);
  const std::string f = pki.Path("c.yaml");
  std::ofstream(pki.Path("garbage.pem")) << "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n";
  std::ofstream(pki.Path("empty.pem")) << "";
  auto refused = [&](const std::string& tls, const std::string& tasks = kTasks) {
    auto spec = WithTls(pki, tls, tasks);
    REQUIRE_FALSE(spec.ok());
    return spec.status().message();
  };

  SECTION("a missing file") {
    CHECK(refused("tls:\n  cert: nowhere.pem\n  key: node.key\n  ca: ca.pem\n") ==
          f + ":10: key 'tls.cert' names '" + pki.Path("nowhere.pem") + "', which cannot be read");
  }
  SECTION("a missing key") {
    CHECK(refused("tls:\n  cert: node.pem\n  ca: ca.pem\n") == f + ":10: key 'tls.key' is required");
  }
  SECTION("a file that is not a certificate") {
    CHECK_THAT(refused("tls:\n  cert: garbage.pem\n  key: node.key\n  ca: ca.pem\n"),
               Catch::StartsWith(f + ":10: key 'tls.cert' names '" + pki.Path("garbage.pem") +
                                 "', which holds no valid PEM certificate"));
    CHECK_THAT(refused("tls:\n  cert: node.pem\n  key: node.key\n  ca: empty.pem\n"),
               Catch::StartsWith(f + ":12: key 'tls.ca' names '" + pki.Path("empty.pem") +
                                 "', which holds no valid PEM certificate"));
  }
  SECTION("a key that is no key, or another certificate's") {
    CHECK_THAT(refused("tls:\n  cert: node.pem\n  key: node.pem\n  ca: ca.pem\n"),
               Catch::StartsWith(f + ":11: key 'tls.key' names '" + pki.Path("node.pem") +
                                 "', which holds no unencrypted PEM private key"));
    CHECK(refused("tls:\n  cert: node.pem\n  key: other.key\n  ca: ca.pem\n") ==
          f + ":11: key 'tls.key' names '" + pki.Path("other.key") +
              "', a key that does not belong to the certificate in '" + pki.Path("node.pem") + "'");
  }
  SECTION("a certificate the CA did not sign") {
    CHECK(refused("tls:\n  cert: other.pem\n  key: other.key\n  ca: ca.pem\n") ==
          f + ":10: key 'tls.cert' names '" + pki.Path("other.pem") + "', which the CA in '" + pki.Path("ca.pem") +
              "' does not accept: unable to get local issuer certificate");
  }
  SECTION("tasks addressed by IP without server_name, or an IP as server_name") {
    const std::string by_ip = "token_file: cluster.token\njobs:\n  ps:\n    tasks:\n      - address: 127.0.0.1:7000\n"
                              "  worker:\n    tasks:\n      - address: localhost:7100\n";
    CHECK_THAT(refused("tls:\n  cert: node.pem\n  key: node.key\n  ca: ca.pem\n", by_ip),
               Catch::StartsWith(f + ":10: key 'tls' needs server_name: task jobs.ps.tasks[0] is addressed by the IP "
                                     "address 127.0.0.1"));
    CHECK_THAT(refused("tls:\n  cert: node.pem\n  key: node.key\n  ca: ca.pem\n  server_name: 127.0.0.1\n", by_ip),
               Catch::StartsWith(f + ":13: key 'tls.server_name' is an IP address"));
    CHECK(WithTls(pki, "tls:\n  cert: node.pem\n  key: node.key\n  ca: ca.pem\n  server_name: localhost\n", by_ip).ok());
  }
  SECTION("an empty or unknown tls key") {
    CHECK(refused("tls:\n") == f + ":9: key 'tls' is empty: give cert, key and ca, or leave tls out");
    CHECK(refused("tls:\n  cert: node.pem\n  key: node.key\n  ca: ca.pem\n  verify: false\n") ==
          f + ":13: unknown key 'tls.verify'");
  }
}

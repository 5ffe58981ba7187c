#include <catch2/catch.hpp>

#include "core/yaml_reader.h"

using namespace flowps;

TEST_CASE("an unknown key is refused with file, line and key") {
  auto doc = ParseYaml("a: 1\nb:\n  c: 2\n  typo: 3\n", "spec.yaml");
  REQUIRE(doc.ok());
  YamlMap root("spec.yaml", *doc, "");
  int a = 0, c = 0;
  root.Required("a", &a);
  YamlMap b = root.Child("b", true);
  b.Required("c", &c);
  Status s = b.Finish();
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() == "spec.yaml:4: unknown key 'b.typo'");
  CHECK(a == 1);
  CHECK(c == 2);
}

TEST_CASE("a missing required key and a wrongly typed key are named") {
  auto doc = ParseYaml("port: eighty\n", "x.yaml");
  REQUIRE(doc.ok());
  int port = 0;
  Status wrong = YamlMap("x.yaml", *doc, "").Required("port", &port).status();
  CHECK(wrong.message() == "x.yaml:1: key 'port' has the wrong type");
  std::string host;
  Status missing = YamlMap("x.yaml", *doc, "").Required("host", &host).status();
  CHECK(missing.message() == "x.yaml:1: key 'host' is required");
}

TEST_CASE("a YAML syntax error names the file and line") {
  auto doc = ParseYaml("a: [1, 2\nb: 3\n", "bad.yaml");
  REQUIRE_FALSE(doc.ok());
  CHECK(doc.status().message().rfind("bad.yaml:", 0) == 0);
}

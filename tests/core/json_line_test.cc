#include <catch2/catch.hpp>

#include "core/json_line.h"

using namespace flowps;

TEST_CASE("a JSON line keeps key order and escapes what JSON requires") {
  std::string line = JsonLine()
                         .Add("name", "a \"quoted\"\\path\n")
                         .Add("value", 1234.5)
                         .Add("count", int64_t{7})
                         .Add("ok", true)
                         .AddRaw("list", "[1,2]")
                         .str();
  CHECK(line == "{\"name\":\"a \\\"quoted\\\"\\\\path\\n\",\"value\":1234.5,\"count\":7,\"ok\":true,\"list\":[1,2]}");
  CHECK(JsonQuote(std::string("\x01", 1)) == "\"\\u0001\"");
  CHECK(JsonLine().Add("x", 1.0 / 0.0).str() == "{\"x\":null}");
}

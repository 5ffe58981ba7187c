// JsonLine: one flat JSON object on one line, for machine-readable output
// (`flowps bench --json`, `flowps status --json`). Keys keep insertion order.
#pragma once

#include <cstdint>
#include <string>

namespace flowps {

// `s` as a JSON string literal, quotes included.
std::string JsonQuote(const std::string& s);

class JsonLine {
 public:
  JsonLine& Add(const std::string& key, const std::string& value);
  JsonLine& Add(const std::string& key, const char* value) { return Add(key, std::string(value)); }
  JsonLine& Add(const std::string& key, double value);
  JsonLine& Add(const std::string& key, int64_t value);
  JsonLine& Add(const std::string& key, bool value);
  // `json` is inserted as it is (an array or object made elsewhere).
  JsonLine& AddRaw(const std::string& key, const std::string& json);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void Key(const std::string& key);
  std::string body_;
};

}  // namespace flowps

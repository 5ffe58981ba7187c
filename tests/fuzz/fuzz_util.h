// Shared by the libFuzzer targets: fuzz input as Cap'n Proto words, and a
// scratch folder for targets that need files.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

#include <capnp/serialize.h>
#include <kj/array.h>

namespace flowps::fuzz {

// The input copied into aligned words (a Cap'n Proto reader needs alignment);
// the last partial word is dropped.
inline kj::Array<capnp::word> AsWords(const uint8_t* data, size_t size) {
  auto words = kj::heapArray<capnp::word>(size / sizeof(capnp::word));
  if (words.size() > 0) std::memcpy(words.begin(), data, words.size() * sizeof(capnp::word));
  return words;
}

// A folder of this process under /tmp (made once, never removed while it runs).
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/flowps_fuzz_XXXXXX";
    return std::string(::mkdtemp(tmpl));
  }();
  return dir;
}

}  // namespace flowps::fuzz

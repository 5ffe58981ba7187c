// SplitMix64: a bijective mix of a 64-bit counter (Steele et al., 2014), for
// random streams indexed by position (initializers, synthetic data).
#pragma once

#include <cstdint>

namespace flowps {

inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace flowps

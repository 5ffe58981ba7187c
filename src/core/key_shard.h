// Which ps shard holds an embedding table's key: the one place the ps (which
// stores the rows) and the worker (which routes its lookups) agree on it.
#pragma once

#include <cstdint>

#include "core/split_mix.h"

namespace flowps {

// The shard (0..num_shards-1) that holds `key`: a mix of the key's bits, so
// consecutive or strided keys spread evenly. REQUIRES: num_shards >= 1.
inline int TableShardOf(int64_t key, int num_shards) {
  return static_cast<int>(SplitMix64(static_cast<uint64_t>(key)) % static_cast<uint64_t>(num_shards));
}

}  // namespace flowps

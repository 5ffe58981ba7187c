// TableConfig: one hash-keyed embedding table of a job (the job spec's
// `tables` section; README.md, "Embeddings"): its row size, how a new row
// starts, the optimizer of its rows and its admission and eviction. The ps
// holds it as ps::EmbeddingTableSpec; net/config_wire.h writes its wire form.
// A value type.
#pragma once

#include <cstdint>
#include <string>

#include "core/train_config.h"

namespace flowps {

// How a new row starts: a kernels::InitializerKind by name (kernels/initializers.h)
// and its parameters; a random kind draws each row from (seed, key).
struct TableInitConfig {
  std::string kind = "zeros";
  double value = 0, min = -0.05, max = 0.05, mean = 0, stddev = 0.05;
  uint64_t seed = 0;
  bool operator==(const TableInitConfig&) const = default;
};

struct TableConfig {
  std::string name;
  int64_t dim = 0;
  TableInitConfig initializer;
  OptimizerConfig optimizer;       // the table's own: rows are updated lazily (only those pushed)
  int64_t min_count = 1;           // admission: lookups before a key gets a row
  int64_t ttl_steps = 0;           // 0: rows never expire
  int64_t max_rows = 0;            // per ps shard; 0: unbounded
  int64_t hot_window_steps = 1000; // hot keys count lookups over windows of this many steps
  std::string where;               // "file:line" of the table in the job spec, for messages
  bool operator==(const TableConfig&) const = default;
};

}  // namespace flowps

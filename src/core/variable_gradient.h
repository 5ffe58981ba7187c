// VariableGradient: the gradient of one whole variable, as a worker computes
// it (worker/local_model.h) and pushes it to the ps shards (net/ps_client.h).
// A value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace flowps {

// Dense: `values` has the variable's full shape. Sparse: `rows` are global
// row ids and `values` is [len(rows), ...].
struct VariableGradient {
  std::string variable;
  Tensor values;
  std::vector<int64_t> rows;
  bool sparse = false;
};

}  // namespace flowps

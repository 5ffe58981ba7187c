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
// row ids and `values` is [len(rows), ...]. Table (an embedding table's rows,
// sparse too): `variable` names the table, `rows` are its int64 keys and
// `values` is [len(rows), dim].
struct VariableGradient {
  std::string variable;
  Tensor values;
  std::vector<int64_t> rows;
  bool sparse = false;
  bool table = false;
};

}  // namespace flowps

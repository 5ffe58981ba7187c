// Checking shapes that come from outside (a file, the wire, a spec) before
// anything is allocated for them.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "core/tensor.h"

namespace flowps {

// The most elements a tensor may have: 2^56 (its bytes still fit in int64).
// Shape::num_elements() saturates at kMaxTensorElements + 1 instead of
// overflowing.
constexpr int64_t kMaxTensorElements = int64_t{1} << 56;

// Every dimension >= 0 (or -1, unknown, when `allow_unknown`), and the
// product of the known ones at most kMaxTensorElements. InvalidArgument
// names the shape.
Status CheckShape(const Shape& shape, bool allow_unknown = false);

}  // namespace flowps

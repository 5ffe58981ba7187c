// Node attributes: small typed values fixed when a node is built (dtype, shape,
// transpose flags, axes, a constant's value).
#pragma once

#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace flowps {

using AttrValue = std::variant<int64_t, double, bool, std::string, DType, Shape,
                               std::vector<int64_t>, Tensor>;
using AttrMap = std::map<std::string, AttrValue>;

// The attribute `name` as a T, or InvalidArgument naming the attribute.
template <typename T>
StatusOr<T> GetAttr(const AttrMap& attrs, const std::string& name) {
  auto it = attrs.find(name);
  if (it == attrs.end()) return InvalidArgument("missing attribute '" + name + "'");
  if (const T* v = std::get_if<T>(&it->second)) return *v;
  return InvalidArgument("attribute '" + name + "' has the wrong type");
}

// The attribute, or `fallback` when it is absent.
template <typename T>
T GetAttrOr(const AttrMap& attrs, const std::string& name, T fallback) {
  auto it = attrs.find(name);
  if (it == attrs.end()) return fallback;
  if (const T* v = std::get_if<T>(&it->second)) return *v;
  return fallback;
}

}  // namespace flowps

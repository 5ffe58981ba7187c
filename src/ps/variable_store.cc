#include "ps/variable_store.h"

#include "core/shape_check.h"

#include <algorithm>
#include <cstring>
#include <set>

namespace flowps::ps {
namespace {

Shape RowsShape(const Shape& full, int64_t rows) {
  std::vector<int64_t> dims = full.dims();
  if (!dims.empty()) dims[0] = rows;
  return Shape(std::move(dims));
}

int64_t FullRows(const Shape& full) { return full.rank() == 0 ? 1 : full.dim(0); }

// Makes `t` the only holder of its buffer (copy-on-write).
void Unshare(Tensor& t) {
  if (t.buffer().use_count() > 1 || t.offset() != 0) t = t.Clone();
}

}  // namespace

VariableStore::VariableStore(OptimizerConfig optimizer, ThreadPool* pool)
    : optimizer_(optimizer), pool_(pool) {}

Status VariableStore::Create(const VariableSpec& spec, bool* created) {
  *created = false;
  if (spec.name.empty()) return InvalidArgument("create variable: the name is empty");
  const std::string what = "create variable '" + spec.name + "'";
  if (!spec.full_shape.fully_defined())
    return InvalidArgument(what + ": shape " + spec.full_shape.ToString() + " is not fully defined");
  FLOWPS_RETURN_IF_ERROR(CheckShape(spec.full_shape).WithContext(what));  // a shape from the wire
  const int64_t rows = FullRows(spec.full_shape);
  const int64_t row_end = spec.row_end < 0 ? rows : spec.row_end;
  if (spec.row_begin < 0 || spec.row_begin > row_end || row_end > rows ||
      (spec.full_shape.rank() == 0 && (spec.row_begin != 0 || row_end != 1)))
    return InvalidArgument(what + ": rows [" + std::to_string(spec.row_begin) + ", " + std::to_string(row_end) +
                           ") are outside the " + std::to_string(rows) + " rows of " + spec.full_shape.ToString());
  FLOWPS_RETURN_IF_ERROR(spec.initializer.Validate().WithContext(what));

  std::unique_lock<std::shared_mutex> lock(mu_);
  auto it = variables_.find(spec.name);
  if (it != variables_.end()) {
    const VariableSnapshot& s = it->second->state;
    if (s.full_shape == spec.full_shape && s.row_begin == spec.row_begin && s.row_end == row_end)
      return Status::OK();
    return AlreadyExists(what + ": it exists with shape " + s.full_shape.ToString() + " rows [" +
                         std::to_string(s.row_begin) + ", " + std::to_string(s.row_end) + ")");
  }
  auto v = std::make_unique<Variable>();
  v->state.name = spec.name;
  v->state.full_shape = spec.full_shape;
  v->state.row_begin = spec.row_begin;
  v->state.row_end = row_end;
  v->state.value = kernels::Initialize(spec.initializer, spec.full_shape, spec.row_begin, row_end);
  v->state.slots = optimizer_.MakeSlots(v->state.value.shape());
  variables_.emplace(spec.name, std::move(v));
  *created = true;
  return Status::OK();
}

StatusOr<VariableStore::Variable*> VariableStore::Find(const std::string& name) const {
  auto it = variables_.find(name);
  if (it == variables_.end()) return NotFound("variable '" + name + "' is not on this ps shard");
  return it->second.get();
}

StatusOr<Tensor> VariableStore::LocalRows(const VariableSnapshot& v, const Tensor& indices) {
  const std::string what = "variable '" + v.name + "'";
  if (v.full_shape.rank() == 0) return InvalidArgument(what + " is a scalar: it has no rows");
  if (!indices.valid() || indices.shape().rank() != 1 ||
      (indices.dtype() != DType::kInt32 && indices.dtype() != DType::kInt64))
    return InvalidArgument(what + ": indices must be a rank-1 int32 or int64 tensor");
  const int64_t n = indices.num_elements();
  // int64 ids of a part that starts at row 0 are its local rows already: no copy.
  const bool in_place = indices.dtype() == DType::kInt64 && v.row_begin == 0;
  Tensor local = in_place ? indices : Tensor(DType::kInt64, Shape{n});
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = indices.dtype() == DType::kInt32 ? indices.data<int32_t>()[i] : indices.data<int64_t>()[i];
    if (r < v.row_begin || r >= v.row_end) {
      if (r < 0 || r >= FullRows(v.full_shape))
        return InvalidArgument(what + ": index " + std::to_string(r) + " at position " + std::to_string(i) +
                               " is outside [0, " + std::to_string(FullRows(v.full_shape)) + ")");
      return InvalidArgument(what + ": row " + std::to_string(r) + " is not held by this shard (it holds rows [" +
                             std::to_string(v.row_begin) + ", " + std::to_string(v.row_end) + "))");
    }
    if (!in_place) local.data<int64_t>()[i] = r - v.row_begin;
  }
  return local;
}

StatusOr<Tensor> VariableStore::Pull(const std::string& name) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  FLOWPS_ASSIGN_OR_RETURN(Variable * v, Find(name));
  std::lock_guard<std::mutex> vlock(v->mu);
  return v->state.value;
}

StatusOr<Tensor> VariableStore::PullRows(const std::string& name, const Tensor& indices) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  FLOWPS_ASSIGN_OR_RETURN(Variable * v, Find(name));
  FLOWPS_ASSIGN_OR_RETURN(Tensor rows, LocalRows(v->state, indices));
  const int64_t n = rows.num_elements();
  const int64_t* local = rows.data<int64_t>();
  Tensor out(DType::kFloat32, RowsShape(v->state.full_shape, n));
  const size_t row_bytes = n == 0 ? 0 : out.num_bytes() / static_cast<size_t>(n);
  std::lock_guard<std::mutex> vlock(v->mu);
  const char* src = static_cast<const char*>(v->state.value.raw_data());
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(static_cast<char*>(out.raw_data()) + i * row_bytes, src + local[i] * row_bytes, row_bytes);
  return out;
}

StatusOr<VariableSnapshot> VariableStore::Describe(const std::string& name) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  FLOWPS_ASSIGN_OR_RETURN(Variable * v, Find(name));
  std::lock_guard<std::mutex> vlock(v->mu);
  return v->state;
}

StatusOr<int64_t> VariableStore::RowBytes(const std::string& name) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  FLOWPS_ASSIGN_OR_RETURN(Variable * v, Find(name));
  const Shape& full = v->state.full_shape;  // immutable once created
  return full.rank() == 0 ? int64_t{4} : 4 * full.num_elements() / std::max<int64_t>(full.dim(0), 1);
}

StatusOr<int64_t> VariableStore::PartRows(const std::string& name) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  FLOWPS_ASSIGN_OR_RETURN(Variable * v, Find(name));
  return v->state.row_end - v->state.row_begin;  // immutable once created
}

Status VariableStore::ValidateShapes(const std::vector<Gradient>& grads) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return ValidateLocked(grads, false);
}

Status VariableStore::Validate(const std::vector<Gradient>& grads) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return ValidateLocked(grads, true);
}

Status VariableStore::ValidateLocked(const std::vector<Gradient>& grads, bool check_values) const {
  std::set<std::string> seen;
  for (const Gradient& g : grads) {
    const std::string what = "gradient for '" + g.variable + "'";
    if (!seen.insert(g.variable).second) return InvalidArgument(what + " appears twice in one push");
    FLOWPS_ASSIGN_OR_RETURN(Variable * v, Find(g.variable));
    const VariableSnapshot& s = v->state;  // shape and rows are immutable under mu_
    if (g.sparse()) {
      FLOWPS_ASSIGN_OR_RETURN(Tensor rows, LocalRows(s, g.indices));
      FLOWPS_RETURN_IF_ERROR(g.values.Check(DType::kFloat32, RowsShape(s.full_shape, rows.num_elements()), what));
    } else {
      FLOWPS_RETURN_IF_ERROR(g.values.Check(DType::kFloat32, RowsShape(s.full_shape, s.row_end - s.row_begin), what));
    }
    if (check_values && !AllFinite(g.values)) return InvalidArgument(what + " contains NaN or Inf");
  }
  return Status::OK();
}

Status VariableStore::Apply(const std::vector<Gradient>& grads, int64_t step) {
  return ApplyLocked(grads, step, true);
}

Status VariableStore::ApplyValidated(const std::vector<Gradient>& grads, int64_t step) {
  return ApplyLocked(grads, step, false);
}

Status VariableStore::ApplyLocked(const std::vector<Gradient>& grads, int64_t step, bool check_values) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  FLOWPS_RETURN_IF_ERROR(ValidateLocked(grads, check_values));
  for (const Gradient& g : grads) {
    FLOWPS_ASSIGN_OR_RETURN(Variable * v, Find(g.variable));
    std::lock_guard<std::mutex> vlock(v->mu);
    VariableSnapshot& s = v->state;
    Unshare(s.value);
    for (Tensor& slot : s.slots) Unshare(slot);
    if (g.sparse()) {
      FLOWPS_ASSIGN_OR_RETURN(Tensor local, LocalRows(s, g.indices));
      FLOWPS_RETURN_IF_ERROR(optimizer_.ApplySparse(s.value, s.slots, local, g.values, step));
    } else {
      FLOWPS_RETURN_IF_ERROR(optimizer_.ApplyDense(s.value, s.slots, g.values, step, pool_));
    }
  }
  return Status::OK();
}

std::vector<std::string> VariableStore::Names() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, v] : variables_) names.push_back(name);
  return names;
}

int64_t VariableStore::TotalBytes() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  int64_t bytes = 0;
  for (const auto& [name, v] : variables_) {
    // From the part's immutable shape: never waits for an apply of the variable.
    const VariableSnapshot& s = v->state;
    const int64_t rows = s.full_shape.rank() == 0 ? 1 : s.full_shape.dim(0);
    bytes += 4 * s.full_shape.num_elements() / std::max<int64_t>(rows, 1) * (s.row_end - s.row_begin);
  }
  return bytes;
}

std::vector<VariableSnapshot> VariableStore::Snapshot() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<VariableSnapshot> out;
  for (const auto& [name, v] : variables_) {
    std::lock_guard<std::mutex> vlock(v->mu);
    out.push_back(v->state);
  }
  return out;
}

Status VariableStore::Restore(std::vector<VariableSnapshot> parts) {
  const size_t num_slots = optimizer_.SlotNames().size();
  std::map<std::string, std::unique_ptr<Variable>> fresh;
  for (VariableSnapshot& p : parts) {
    const std::string what = "restore variable '" + p.name + "'";
    FLOWPS_RETURN_IF_ERROR(p.value.Check(DType::kFloat32, RowsShape(p.full_shape, p.row_end - p.row_begin), what));
    if (p.slots.size() != num_slots)
      return InvalidArgument(what + ": it has " + std::to_string(p.slots.size()) + " slots, the optimizer " +
                             OptimizerKindName(optimizer_.config().kind) + " needs " +
                             std::to_string(num_slots));
    for (const Tensor& slot : p.slots) FLOWPS_RETURN_IF_ERROR(slot.Check(DType::kFloat32, p.value.shape(), what));
    auto v = std::make_unique<Variable>();
    v->state = std::move(p);
    std::string name = v->state.name;
    if (!fresh.emplace(name, std::move(v)).second) return InvalidArgument(what + ": it appears twice");
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  variables_ = std::move(fresh);
  return Status::OK();
}

}  // namespace flowps::ps

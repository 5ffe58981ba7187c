#include "ps/table_store.h"

#include <cmath>

namespace flowps::ps {

StatusOr<EmbeddingTableSpec> TableSpecFromConfig(const TableConfig& config) {
  EmbeddingTableSpec spec;
  spec.name = config.name;
  spec.dim = config.dim;
  StatusOr<kernels::InitializerKind> kind = kernels::ParseInitializerKind(config.initializer.kind);
  if (!kind.ok()) return InvalidArgument("embedding table '" + config.name + "': " + kind.status().message());
  spec.initializer.kind = *kind;
  spec.initializer.value = config.initializer.value;
  spec.initializer.min = config.initializer.min;
  spec.initializer.max = config.initializer.max;
  spec.initializer.mean = config.initializer.mean;
  spec.initializer.stddev = config.initializer.stddev;
  spec.initializer.seed = config.initializer.seed;
  spec.optimizer = config.optimizer;
  spec.min_count = config.min_count;
  spec.ttl_steps = config.ttl_steps;
  spec.max_rows = config.max_rows;
  spec.hot_window_steps = config.hot_window_steps;
  if (spec.dim > 65536) return InvalidArgument("embedding table '" + config.name + "': dim must be <= 65536");
  FLOWPS_RETURN_IF_ERROR(spec.Validate());
  return spec;
}

StatusOr<std::vector<bool>> TableStore::Create(const std::vector<EmbeddingTableSpec>& specs) {
  if (specs.size() > kMaxTablesPerCall)
    return InvalidArgument("createTables: " + std::to_string(specs.size()) + " tables in one call, more than " +
                           std::to_string(kMaxTablesPerCall));
  for (const EmbeddingTableSpec& spec : specs) FLOWPS_RETURN_IF_ERROR(spec.Validate());
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < specs.size(); ++i) {
    auto it = tables_.find(specs[i].name);
    if (it != tables_.end() && !(it->second->spec() == specs[i]))
      return InvalidArgument("embedding table '" + specs[i].name +
                             "' exists on this ps shard with another definition (dim " +
                             std::to_string(it->second->spec().dim) + ", optimizer " +
                             OptimizerKindName(it->second->spec().optimizer.kind) + ")");
    for (size_t j = 0; j < i; ++j)
      if (specs[j].name == specs[i].name)
        return InvalidArgument("embedding table '" + specs[i].name + "' is defined twice in one call");
  }
  std::vector<bool> created;
  for (const EmbeddingTableSpec& spec : specs) {
    const bool fresh = tables_.count(spec.name) == 0;
    if (fresh) tables_[spec.name] = std::make_shared<EmbeddingTable>(spec);
    created.push_back(fresh);
  }
  return created;
}

StatusOr<std::shared_ptr<EmbeddingTable>> TableStore::Find(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tables_.find(name);
  if (it != tables_.end()) return it->second;
  std::string names;
  for (const auto& [n, t] : tables_) names += (names.empty() ? "'" : ", '") + n + "'";
  return NotFound("no embedding table '" + name + "' on this ps shard (it has " +
                  (names.empty() ? std::string("none") : names) + ")");
}

std::map<std::string, std::shared_ptr<EmbeddingTable>> TableStore::All() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tables_;
}

StatusOr<std::shared_ptr<EmbeddingTable>> TableStore::CheckKeys(const std::string& table, const Tensor& keys,
                                                                 const std::string& what) const {
  StatusOr<std::shared_ptr<EmbeddingTable>> t = Find(table);
  if (!t.ok()) return InvalidArgument(what + ": " + t.status().message());
  if (!keys.valid() || keys.dtype() != DType::kInt64 || keys.shape().rank() != 1)
    return InvalidArgument(what + " of table '" + table + "': the keys must be an int64 vector");
  const int64_t* k = keys.data<int64_t>();
  for (int64_t i = 0; i < keys.num_elements(); ++i) {
    const int owner = TableShardOf(k[i], num_shards_);
    if (owner != shard_)
      return InvalidArgument(what + " of table '" + table + "': key " + std::to_string(k[i]) + " belongs to ps shard " +
                             std::to_string(owner) + ", not " + std::to_string(shard_));
  }
  return t;
}

namespace {

// InvalidArgument when the requests carry more than kMaxTableKeysPerCall keys together.
template <typename Request>
Status CheckKeyCount(const std::vector<Request>& requests, const std::string& what) {
  int64_t total = 0;
  for (const Request& r : requests) total += r.keys.valid() ? r.keys.num_elements() : 0;
  if (total > kMaxTableKeysPerCall)
    return InvalidArgument(what + ": " + std::to_string(total) + " table keys in one call, more than " +
                           std::to_string(kMaxTableKeysPerCall));
  return Status::OK();
}

}  // namespace

Status TableStore::CheckLookups(const std::vector<TableLookup>& lookups) const {
  FLOWPS_RETURN_IF_ERROR(CheckKeyCount(lookups, "lookup"));
  for (const TableLookup& l : lookups) FLOWPS_RETURN_IF_ERROR(CheckKeys(l.table, l.keys, "lookup").status());
  return Status::OK();
}

Status TableStore::CheckGradients(const std::vector<TableGradient>& grads) const {
  FLOWPS_RETURN_IF_ERROR(CheckKeyCount(grads, "push"));
  for (const TableGradient& g : grads) {
    FLOWPS_ASSIGN_OR_RETURN(std::shared_ptr<EmbeddingTable> t, CheckKeys(g.table, g.keys, "push"));
    const int64_t n = g.keys.num_elements();
    FLOWPS_RETURN_IF_ERROR(
        g.values.Check(DType::kFloat32, Shape{n, t->spec().dim}, "push of table '" + g.table + "'"));
    const float* v = g.values.data<float>();
    for (int64_t i = 0; i < g.values.num_elements(); ++i)
      if (!std::isfinite(v[i]))
        return InvalidArgument("push of table '" + g.table + "': the gradient of key " +
                               std::to_string(g.keys.data<int64_t>()[i / t->spec().dim]) + " is not finite");
  }
  return Status::OK();
}

std::vector<Tensor> TableStore::Lookup(const std::vector<TableLookup>& lookups, bool train, int64_t step) {
  std::vector<Tensor> out;
  for (const TableLookup& l : lookups) {
    std::shared_ptr<EmbeddingTable> t = *Find(l.table);
    const int64_t n = l.keys.num_elements();
    Tensor rows(DType::kFloat32, Shape{n, t->spec().dim});
    if (train) t->Lookup(l.keys.data<int64_t>(), n, step, rows.data<float>());
    else t->Read(l.keys.data<int64_t>(), n, rows.data<float>());
    out.push_back(std::move(rows));
  }
  return out;
}

size_t TableStore::LookupBytes(const std::vector<TableLookup>& lookups) const {
  size_t bytes = 0;
  for (const TableLookup& l : lookups) {
    StatusOr<std::shared_ptr<EmbeddingTable>> t = Find(l.table);
    if (t.ok()) bytes += static_cast<size_t>(l.keys.num_elements() * (*t)->spec().dim) * sizeof(float);
  }
  return bytes;
}

Status TableStore::Apply(const std::vector<TableGradient>& grads, int64_t step) {
  for (const TableGradient& g : grads) {
    FLOWPS_ASSIGN_OR_RETURN(std::shared_ptr<EmbeddingTable> t, Find(g.table));
    FLOWPS_RETURN_IF_ERROR(
        t->ApplyGradients(g.keys.data<int64_t>(), g.values.data<float>(), g.keys.num_elements(), step));
  }
  return Status::OK();
}

void TableStore::Replace(const std::string& name, std::shared_ptr<EmbeddingTable> table) {
  std::lock_guard<std::mutex> lock(mu_);
  tables_[name] = std::move(table);
}

}  // namespace flowps::ps

// TableStore: the embedding tables of one ps shard, by name, and the checks
// a peer's table request must pass before anything changes.
//
// A shard holds, of each table, the keys TableShardOf(key, num_shards) gives
// it; a request naming a key of another shard, an unknown table, a key list
// that is not int64 [n], gradients that are not float32 [n, dim] or not
// finite, or more than kMaxTableKeysPerCall keys, is refused with an
// InvalidArgument naming the table (and the key), and nothing is applied.
//
// Thread safety: every method may be called from any thread; the map is
// guarded by a mutex of its own, each table by its own (EmbeddingTable).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/table_config.h"
#include "core/tensor.h"
#include "ps/embedding_table.h"

namespace flowps::ps {

// The most keys one lookup or push may carry for all its tables together.
inline constexpr int64_t kMaxTableKeysPerCall = int64_t{1} << 22;
// The most tables one createTables call may define.
inline constexpr size_t kMaxTablesPerCall = 1024;

// The ps's spec of a job's table (the initializer named by kind); InvalidArgument
// naming the table when a value is out of range (EmbeddingTableSpec::Validate).
StatusOr<EmbeddingTableSpec> TableSpecFromConfig(const TableConfig& config);

// One table's gradient rows by key: keys int64 [n], values float32 [n, dim].
struct TableGradient {
  std::string table;
  Tensor keys;
  Tensor values;
};

// One table's keys to look up: int64 [n].
struct TableLookup {
  std::string table;
  Tensor keys;
};

class TableStore {
 public:
  TableStore(int shard, int num_shards) : shard_(shard), num_shards_(num_shards) {}

  // Creates the tables of `specs` (each valid). A table that exists with the
  // same spec is kept (created false); another spec under an existing name
  // is refused and nothing is created.
  StatusOr<std::vector<bool>> Create(const std::vector<EmbeddingTableSpec>& specs);

  // Checks every request (see above) before any is read.
  Status CheckLookups(const std::vector<TableLookup>& lookups) const;
  Status CheckGradients(const std::vector<TableGradient>& grads) const;
  // The rows of each lookup, float32 [n, dim] in the order asked. train: a
  // training step's lookup at `step` (EmbeddingTable::Lookup); otherwise a
  // read that changes nothing (EmbeddingTable::Read). REQUIRES: CheckLookups passed.
  std::vector<Tensor> Lookup(const std::vector<TableLookup>& lookups, bool train, int64_t step);
  // The bytes of the rows Lookup answers. REQUIRES: CheckLookups passed.
  size_t LookupBytes(const std::vector<TableLookup>& lookups) const;
  // Applies each gradient with its table's optimizer at `step` (>= 1).
  // REQUIRES: CheckGradients passed (finiteness is checked here too).
  Status Apply(const std::vector<TableGradient>& grads, int64_t step);

  // The table `name`, or NotFound naming the tables there are.
  StatusOr<std::shared_ptr<EmbeddingTable>> Find(const std::string& name) const;
  // Puts `table` in place of the table of its name (a restore); requests
  // already holding the old one finish on it.
  void Replace(const std::string& name, std::shared_ptr<EmbeddingTable> table);
  // Every table, by name.
  std::map<std::string, std::shared_ptr<EmbeddingTable>> All() const;
  int shard() const { return shard_; }
  int num_shards() const { return num_shards_; }

 private:
  // The table of a request, after checking its keys (int64 [n], this shard's).
  StatusOr<std::shared_ptr<EmbeddingTable>> CheckKeys(const std::string& table, const Tensor& keys,
                                                      const std::string& what) const;

  const int shard_, num_shards_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<EmbeddingTable>> tables_;  // guarded by mu_
};

}  // namespace flowps::ps

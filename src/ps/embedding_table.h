// EmbeddingTable: one ps shard's part of a hash-keyed embedding table.
//
// A table maps int64 keys (any value) to float32 rows of `dim` elements. Keys
// are spread over the ps shards by TableShardOf(key, num_shards); each shard
// holds an EmbeddingTable with the keys it owns.
//
// Life of a row:
//   - Admission: a key gets a row on the lookup that makes it seen
//     `min_count` times (1: at first sight). Until then its lookups return the
//     value its row would start with (the initializer's value for that key) and
//     its gradients are dropped; both are counted (pending_lookups,
//     dropped_updates).
//   - A new row starts at the initializer's value for its key: element j of
//     key k's row is a pure function of (initializer, seed, k, j), so a row
//     starts the same on any shard and under any shard count.
//   - Eviction: a row not touched (looked up or updated) for more than
//     `ttl_steps` steps is removed by the next call whose step is past its
//     expiry, and when a new row would exceed `max_rows` the least recently
//     used row goes first. Both are counted; the most recent evicted keys can
//     be listed (EvictedKeys).
//
// Layout: the rows live in a slab of fixed-size chunks (a row's value and its
// optimizer slots contiguous, then a 32-byte header: key, last step, LRU
// links, hot-key counter and flags), found through an open-addressing index
// (linear probing, u32 row ids, load <= 3/4). The LRU links are kept only for
// a table that evicts (ttl_steps or max_rows > 0). Rows stay dense: an evicted row's
// place is taken by the last row. MemoryBytes() counts all of it.
//
// Thread safety: every method may be called from any thread; one mutex guards
// the table. No method does I/O or waits on anything but that mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/key_shard.h"  // TableShardOf
#include "core/status.h"
#include "core/train_config.h"
#include "kernels/initializers.h"
#include "kernels/optimizers.h"

namespace flowps::ps {

struct EmbeddingTableSpec {
  std::string name;
  int64_t dim = 0;
  kernels::InitializerSpec initializer;  // per row, counter-based on (seed, key, element)
  OptimizerConfig optimizer;             // lazy: only the rows pushed are updated
  int64_t min_count = 1;                 // admission threshold (lookups); >= 1
  int64_t ttl_steps = 0;                 // 0: rows never expire
  int64_t max_rows = 0;                  // per shard; 0: unbounded
  int64_t hot_window_steps = 1000;       // HotKeys counts lookups in windows of this many steps

  // InvalidArgument naming the table and the field.
  Status Validate() const;
  bool operator==(const EmbeddingTableSpec&) const;
};

struct EmbeddingTableStats {
  int64_t rows = 0;             // rows held now
  int64_t admitted = 0;         // rows created (admissions), ever
  int64_t lookups = 0;          // keys looked up, ever
  int64_t pending_lookups = 0;  // lookups of keys not (yet) admitted
  int64_t updates = 0;          // row updates applied
  int64_t dropped_updates = 0;  // gradients for keys without a row
  int64_t evicted_ttl = 0;
  int64_t evicted_capacity = 0;
  int64_t row_bytes = 0;        // rows * (value + slots) bytes: the payload
  int64_t memory_bytes = 0;     // everything the table holds (MemoryBytes)
};

struct HotKey {
  int64_t key = 0;
  int64_t lookups = 0;  // in the current window
};

// Rows of a table as a checkpoint stores them: for each key its last-touched
// step and `stride` floats (value, then slots in Optimizer::SlotNames() order).
struct TableRows {
  int64_t stride = 0;
  std::vector<int64_t> keys;
  std::vector<int64_t> last_steps;
  std::vector<float> values;          // keys.size() * stride
  std::vector<int64_t> deleted_keys;  // increments: keys evicted since the last checkpoint
};

class EmbeddingTable {
 public:
  // REQUIRES: spec.Validate().ok().
  explicit EmbeddingTable(EmbeddingTableSpec spec);
  ~EmbeddingTable();
  EmbeddingTable(const EmbeddingTable&) = delete;
  EmbeddingTable& operator=(const EmbeddingTable&) = delete;

  const EmbeddingTableSpec& spec() const { return spec_; }
  // Floats per row: dim * (1 + number of optimizer slots).
  int64_t stride() const { return stride_; }

  // Writes the values of `keys[0..n)` to out[n * dim] at global step `step`
  // (admitting, creating and touching rows as described above; evicts first).
  void Lookup(const int64_t* keys, int64_t n, int64_t step, float* out);
  // Writes the values of `keys[0..n)` to out[n * dim] and changes nothing: a
  // key without a row reads the value its row would start with (evaluation).
  void Read(const int64_t* keys, int64_t n, float* out) const;
  // Applies grads[n * dim] to the rows of `keys` with the table's optimizer at
  // `step` (counted from 1). Gradients of a repeated key are summed first.
  // InvalidArgument (and nothing changes) if a gradient is not finite.
  Status ApplyGradients(const int64_t* keys, const float* grads, int64_t n, int64_t step);
  // Removes the rows past their ttl at `step` (Lookup and ApplyGradients do
  // this themselves); returns how many.
  int64_t EvictExpired(int64_t step);

  EmbeddingTableStats Stats() const;
  int64_t MemoryBytes() const;
  // The `k` keys looked up most in the window of hot_window_steps containing
  // the newest step seen, most first.
  std::vector<HotKey> HotKeys(int k) const;
  // The most recently evicted keys (at most the last 1024), oldest first.
  std::vector<int64_t> EvictedKeys() const;
  // True if `key` has a row; then *row (if not null) is the row (value, then slots).
  bool ReadRow(int64_t key, std::vector<float>* row) const;

  // Checkpoints. Full: every row. Incremental: the rows created or changed
  // since the previous Checkpoint call, and the keys evicted since then. Each
  // call starts a new increment.
  TableRows Checkpoint(bool incremental);
  // Puts `rows` into the table (replacing a key's row), removes its deleted
  // keys; rows of keys that `keep(key)` refuses are skipped. Rows are clean
  // afterwards (the next increment does not repeat them).
  // InvalidArgument if the stride disagrees with this table's.
  Status Load(const TableRows& rows, const std::function<bool(int64_t)>& keep);

 private:
  struct RowHeader;
  class Slab;

  // REQUIRES: mu_ held for all of these.
  uint32_t FindLocked(int64_t key) const;  // kNoRow if absent
  void PrefetchLocked(const int64_t* keys, int64_t n) const;
  uint32_t CreateLocked(int64_t key, int64_t step);
  void RemoveLocked(uint32_t row);
  void TouchLocked(uint32_t row, int64_t step);
  void Unlink(uint32_t row);
  void PushFront(uint32_t row);
  void IndexInsert(int64_t key, uint32_t row);
  void IndexErase(int64_t key);
  void IndexRepoint(int64_t key, uint32_t row);
  void GrowIndex();
  void InitialRow(int64_t key, float* out) const;
  int64_t EvictExpiredLocked(int64_t step);
  void RecordEvictionLocked(int64_t key);
  void ObserveStepLocked(int64_t step);

  const EmbeddingTableSpec spec_;
  const kernels::Optimizer optimizer_;
  const int64_t stride_;
  // The LRU list is kept only when rows can be evicted (ttl_steps or
  // max_rows): without eviction a touch costs no list update.
  const bool lru_;
  std::vector<float> slot_init_;  // stride_ - dim floats: the slots' initial values

  mutable std::mutex mu_;
  // Everything below is guarded by mu_.
  std::unique_ptr<Slab> slab_;
  std::vector<uint32_t> index_;  // open addressing: row id, or kNoRow
  uint32_t lru_head_;             // most recently used
  uint32_t lru_tail_;             // least recently used
  int64_t newest_step_ = 0;
  int64_t next_expiry_check_ = 0;
  struct Candidate {
    int64_t count = 0;
    int64_t last_step = 0;
  };
  std::unordered_map<int64_t, Candidate> candidates_;  // keys seen but not admitted
  std::deque<int64_t> recent_evictions_;
  bool tracking_changes_ = false;                // after the first Checkpoint
  std::unordered_set<int64_t> deleted_since_checkpoint_;
  EmbeddingTableStats stats_;
};

}  // namespace flowps::ps

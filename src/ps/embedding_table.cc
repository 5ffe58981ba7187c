#include "ps/embedding_table.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/split_mix.h"

namespace flowps::ps {
namespace {

constexpr uint32_t kNoRow = std::numeric_limits<uint32_t>::max();
constexpr uint32_t kDirty = 1;
constexpr size_t kMaxRecentEvictions = 1024;
constexpr size_t kInitialIndexSize = 1024;  // a power of two
constexpr int64_t kChunkRows = 4096;
constexpr int64_t kPrefetchBatch = 32;  // keys whose memory is fetched ahead together

// Different mixes for the shard and the index position, so that the keys of
// one shard do not crowd into a few index positions.
uint64_t IndexHash(int64_t key) { return SplitMix64(static_cast<uint64_t>(key) ^ 0x5851f42d4c957f2dULL); }

}  // namespace

Status EmbeddingTableSpec::Validate() const {
  const std::string where = "embedding table '" + name + "': ";
  if (name.empty()) return InvalidArgument("embedding table: the name is empty");
  if (dim < 1) return InvalidArgument(where + "dim must be >= 1, got " + std::to_string(dim));
  if (min_count < 1) return InvalidArgument(where + "min_count must be >= 1, got " + std::to_string(min_count));
  if (ttl_steps < 0) return InvalidArgument(where + "ttl_steps must be >= 0, got " + std::to_string(ttl_steps));
  if (max_rows < 0 || max_rows >= static_cast<int64_t>(kNoRow))
    return InvalidArgument(where + "max_rows must be in [0, 2^32-1), got " + std::to_string(max_rows));
  if (hot_window_steps < 1)
    return InvalidArgument(where + "hot_window_steps must be >= 1, got " + std::to_string(hot_window_steps));
  Status s = initializer.Validate();
  if (!s.ok()) return InvalidArgument(where + "initializer: " + s.message());
  s = optimizer.Validate();
  if (!s.ok()) return InvalidArgument(where + s.message());
  return Status::OK();
}

bool EmbeddingTableSpec::operator==(const EmbeddingTableSpec& o) const {
  const kernels::InitializerSpec &a = initializer, &b = o.initializer;
  return name == o.name && dim == o.dim && optimizer == o.optimizer && min_count == o.min_count &&
         ttl_steps == o.ttl_steps && max_rows == o.max_rows && hot_window_steps == o.hot_window_steps &&
         a.kind == b.kind && a.value == b.value && a.min == b.min && a.max == b.max && a.mean == b.mean &&
         a.stddev == b.stddev && a.seed == b.seed;
}

// 32 bytes of bookkeeping per row.
struct EmbeddingTable::RowHeader {
  int64_t key;
  int64_t last_step;        // the newest step that touched the row
  uint32_t prev;            // LRU list: towards the most recently used
  uint32_t next;            // LRU list: towards the least recently used
  uint32_t window_lookups;  // lookups in the hot-key window of last_step
  uint32_t flags;           // kDirty: changed since the last checkpoint
};

// Rows 0..size-1 in chunks of kChunkRows: `stride` floats and a header each.
// Chunks are allocated as rows are added and freed as the last rows go.
class EmbeddingTable::Slab {
 public:
  explicit Slab(int64_t stride) : stride_(stride) {}
  int64_t size() const { return size_; }
  float* row(uint32_t r) { return chunks_[r / kChunkRows].values.get() + (r % kChunkRows) * stride_; }
  RowHeader& header(uint32_t r) { return chunks_[r / kChunkRows].headers[r % kChunkRows]; }
  uint32_t PushBack() {
    if (size_ == static_cast<int64_t>(chunks_.size()) * kChunkRows)
      chunks_.push_back({std::make_unique<float[]>(kChunkRows * stride_), std::make_unique<RowHeader[]>(kChunkRows)});
    return static_cast<uint32_t>(size_++);
  }
  void PopBack() {
    --size_;
    if (size_ <= (static_cast<int64_t>(chunks_.size()) - 2) * kChunkRows) chunks_.pop_back();  // keep one spare
  }
  int64_t bytes() const {
    return static_cast<int64_t>(chunks_.size()) * kChunkRows *
           (stride_ * static_cast<int64_t>(sizeof(float)) + static_cast<int64_t>(sizeof(RowHeader)));
  }

 private:
  struct Chunk {
    std::unique_ptr<float[]> values;
    std::unique_ptr<RowHeader[]> headers;
  };
  const int64_t stride_;
  int64_t size_ = 0;
  std::vector<Chunk> chunks_;
};

EmbeddingTable::EmbeddingTable(EmbeddingTableSpec spec)
    : spec_(std::move(spec)),
      optimizer_(spec_.optimizer),
      stride_(spec_.dim * static_cast<int64_t>(1 + optimizer_.SlotNames().size())),
      lru_(spec_.ttl_steps > 0 || spec_.max_rows > 0),
      slab_(std::make_unique<Slab>(stride_)),
      index_(kInitialIndexSize, kNoRow),
      lru_head_(kNoRow),
      lru_tail_(kNoRow) {
  for (size_t s = 0; s < optimizer_.SlotNames().size(); ++s)
    slot_init_.insert(slot_init_.end(), static_cast<size_t>(spec_.dim), optimizer_.SlotInitialValue(s));
}

EmbeddingTable::~EmbeddingTable() = default;

// ---- the index --------------------------------------------------------------

uint32_t EmbeddingTable::FindLocked(int64_t key) const {
  const size_t mask = index_.size() - 1;
  for (size_t i = IndexHash(key) & mask;; i = (i + 1) & mask) {
    const uint32_t r = index_[i];
    if (r == kNoRow) return kNoRow;
    if (slab_->header(r).key == key) return r;
  }
}

void EmbeddingTable::IndexInsert(int64_t key, uint32_t row) {
  if (static_cast<size_t>(slab_->size()) * 4 > index_.size() * 3) GrowIndex();
  const size_t mask = index_.size() - 1;
  size_t i = IndexHash(key) & mask;
  while (index_[i] != kNoRow) i = (i + 1) & mask;
  index_[i] = row;
}

void EmbeddingTable::GrowIndex() {
  std::vector<uint32_t> old(index_.size() * 2, kNoRow);
  old.swap(index_);
  const size_t mask = index_.size() - 1;
  for (uint32_t r : old) {
    if (r == kNoRow) continue;
    size_t i = IndexHash(slab_->header(r).key) & mask;
    while (index_[i] != kNoRow) i = (i + 1) & mask;
    index_[i] = r;
  }
}

// Backward-shift deletion: entries after the hole that may live there move up,
// so lookups never need tombstones.
void EmbeddingTable::IndexErase(int64_t key) {
  const size_t mask = index_.size() - 1;
  size_t hole = IndexHash(key) & mask;
  while (slab_->header(index_[hole]).key != key) hole = (hole + 1) & mask;
  for (size_t j = (hole + 1) & mask; index_[j] != kNoRow; j = (j + 1) & mask) {
    const size_t home = IndexHash(slab_->header(index_[j]).key) & mask;
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    index_[hole] = index_[j];
    hole = j;
  }
  index_[hole] = kNoRow;
}

void EmbeddingTable::IndexRepoint(int64_t key, uint32_t row) {
  const size_t mask = index_.size() - 1;
  size_t i = IndexHash(key) & mask;
  while (slab_->header(index_[i]).key != key) i = (i + 1) & mask;
  index_[i] = row;
}

// Hints only: brings into the cache, in three rounds over up to kPrefetchBatch
// keys, what looking them up will touch (index slot; row and header; the LRU
// neighbours the touch relinks), so that the DRAM misses of a large table
// overlap instead of following one another. Changes nothing.
void EmbeddingTable::PrefetchLocked(const int64_t* keys, int64_t n) const {
  const size_t mask = index_.size() - 1;
  uint32_t rows[kPrefetchBatch];
  n = std::min<int64_t>(n, kPrefetchBatch);
  for (int64_t i = 0; i < n; ++i) __builtin_prefetch(&index_[IndexHash(keys[i]) & mask]);
  for (int64_t i = 0; i < n; ++i) {
    rows[i] = index_[IndexHash(keys[i]) & mask];
    if (rows[i] == kNoRow) continue;
    __builtin_prefetch(&slab_->header(rows[i]));
    __builtin_prefetch(slab_->row(rows[i]));
  }
  for (int64_t i = 0; lru_ && i < n; ++i) {
    if (rows[i] == kNoRow) continue;
    const RowHeader& h = slab_->header(rows[i]);
    if (h.key != keys[i]) continue;
    if (h.prev != kNoRow) __builtin_prefetch(&slab_->header(h.prev));
    if (h.next != kNoRow) __builtin_prefetch(&slab_->header(h.next));
  }
}

// ---- the LRU list -----------------------------------------------------------

void EmbeddingTable::Unlink(uint32_t r) {
  RowHeader& h = slab_->header(r);
  if (h.prev != kNoRow) slab_->header(h.prev).next = h.next; else lru_head_ = h.next;
  if (h.next != kNoRow) slab_->header(h.next).prev = h.prev; else lru_tail_ = h.prev;
  h.prev = h.next = kNoRow;
}

void EmbeddingTable::PushFront(uint32_t r) {
  RowHeader& h = slab_->header(r);
  h.prev = kNoRow;
  h.next = lru_head_;
  if (lru_head_ != kNoRow) slab_->header(lru_head_).prev = r;
  lru_head_ = r;
  if (lru_tail_ == kNoRow) lru_tail_ = r;
}

void EmbeddingTable::TouchLocked(uint32_t r, int64_t step) {
  RowHeader& h = slab_->header(r);
  const int64_t w = spec_.hot_window_steps;
  if (h.last_step / w != step / w && step > h.last_step) h.window_lookups = 0;
  h.last_step = std::max(h.last_step, step);
  if (lru_ && lru_head_ != r) {
    Unlink(r);
    PushFront(r);
  }
}

// ---- rows ---------------------------------------------------------------------

void EmbeddingTable::InitialRow(int64_t key, float* out) const {
  const kernels::InitializerSpec& init = spec_.initializer;
  if (init.kind == kernels::InitializerKind::kZeros || init.kind == kernels::InitializerKind::kConstant) {
    std::fill(out, out + spec_.dim, static_cast<float>(init.kind == kernels::InitializerKind::kZeros ? 0 : init.value));
    return;
  }
  kernels::InitializerSpec keyed = init;
  keyed.seed = SplitMix64(init.seed ^ SplitMix64(static_cast<uint64_t>(key)));
  Tensor t = kernels::Initialize(keyed, Shape({1, spec_.dim}), 0, 1);
  std::memcpy(out, t.data<float>(), static_cast<size_t>(spec_.dim) * sizeof(float));
}

uint32_t EmbeddingTable::CreateLocked(int64_t key, int64_t step) {
  if (spec_.max_rows > 0 && slab_->size() >= spec_.max_rows) {
    const int64_t victim = slab_->header(lru_tail_).key;
    RemoveLocked(lru_tail_);
    ++stats_.evicted_capacity;
    RecordEvictionLocked(victim);
  }
  const uint32_t r = slab_->PushBack();
  float* row = slab_->row(r);
  InitialRow(key, row);
  std::copy(slot_init_.begin(), slot_init_.end(), row + spec_.dim);
  RowHeader& h = slab_->header(r);
  h = {key, step, kNoRow, kNoRow, 0, kDirty};
  IndexInsert(key, r);
  if (lru_) PushFront(r);
  ++stats_.admitted;
  if (tracking_changes_) deleted_since_checkpoint_.erase(key);
  return r;
}

void EmbeddingTable::RemoveLocked(uint32_t r) {
  IndexErase(slab_->header(r).key);
  if (lru_) Unlink(r);
  const uint32_t last = static_cast<uint32_t>(slab_->size() - 1);
  if (r != last) {
    // The last row moves into the hole; its index entry and LRU neighbours follow.
    std::memcpy(slab_->row(r), slab_->row(last), static_cast<size_t>(stride_) * sizeof(float));
    RowHeader& h = slab_->header(r);
    h = slab_->header(last);
    IndexRepoint(h.key, r);
    if (lru_) {
      if (h.prev != kNoRow) slab_->header(h.prev).next = r; else lru_head_ = r;
      if (h.next != kNoRow) slab_->header(h.next).prev = r; else lru_tail_ = r;
    }
  }
  slab_->PopBack();
}

void EmbeddingTable::RecordEvictionLocked(int64_t key) {
  recent_evictions_.push_back(key);
  if (recent_evictions_.size() > kMaxRecentEvictions) recent_evictions_.pop_front();
  if (tracking_changes_) deleted_since_checkpoint_.insert(key);
}

int64_t EmbeddingTable::EvictExpiredLocked(int64_t step) {
  if (spec_.ttl_steps == 0) return 0;
  int64_t evicted = 0;
  // The list is in touch order, so the expired rows are at its tail.
  while (lru_tail_ != kNoRow && step - slab_->header(lru_tail_).last_step > spec_.ttl_steps) {
    const int64_t key = slab_->header(lru_tail_).key;
    RemoveLocked(lru_tail_);
    RecordEvictionLocked(key);
    ++evicted;
  }
  stats_.evicted_ttl += evicted;
  if (step >= next_expiry_check_) {  // keys seen too rarely to be admitted are forgotten too
    std::erase_if(candidates_, [&](const auto& c) { return step - c.second.last_step > spec_.ttl_steps; });
    next_expiry_check_ = step + spec_.ttl_steps;
  }
  return evicted;
}

void EmbeddingTable::ObserveStepLocked(int64_t step) {
  newest_step_ = std::max(newest_step_, step);
  EvictExpiredLocked(step);
}

// ---- the public operations ------------------------------------------------------

void EmbeddingTable::Lookup(const int64_t* keys, int64_t n, int64_t step, float* out) {
  std::lock_guard<std::mutex> lock(mu_);
  ObserveStepLocked(step);
  stats_.lookups += n;
  const size_t dim = static_cast<size_t>(spec_.dim);
  for (int64_t i = 0; i < n; ++i, out += dim) {
    if (i % kPrefetchBatch == 0) PrefetchLocked(keys + i, n - i);
    const int64_t key = keys[i];
    uint32_t r = FindLocked(key);
    if (r == kNoRow) {
      if (spec_.min_count > 1) {
        Candidate& c = candidates_[key];
        c.last_step = step;
        if (++c.count < spec_.min_count) {
          ++stats_.pending_lookups;
          InitialRow(key, out);
          continue;
        }
        candidates_.erase(key);
      }
      r = CreateLocked(key, step);
    } else {
      TouchLocked(r, step);
    }
    ++slab_->header(r).window_lookups;
    std::memcpy(out, slab_->row(r), dim * sizeof(float));
  }
}

void EmbeddingTable::Read(const int64_t* keys, int64_t n, float* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t dim = static_cast<size_t>(spec_.dim);
  for (int64_t i = 0; i < n; ++i, out += dim) {
    if (i % kPrefetchBatch == 0) PrefetchLocked(keys + i, n - i);
    const uint32_t r = FindLocked(keys[i]);
    if (r == kNoRow) InitialRow(keys[i], out);
    else std::memcpy(out, slab_->row(r), dim * sizeof(float));
  }
}

Status EmbeddingTable::ApplyGradients(const int64_t* keys, const float* grads, int64_t n, int64_t step) {
  const int64_t dim = spec_.dim;
  for (int64_t i = 0; i < n * dim; ++i)
    if (!std::isfinite(grads[i]))
      return InvalidArgument("embedding table '" + spec_.name + "': the gradient of key " +
                             std::to_string(keys[i / dim]) + " is not finite");
  // Sum the gradients of repeated keys, keeping first-appearance order.
  std::unordered_map<int64_t, int64_t> position;
  std::vector<int64_t> unique;
  std::vector<float> summed;
  const float* g = grads;
  for (int64_t i = 0; i < n; ++i)
    if (position.emplace(keys[i], static_cast<int64_t>(unique.size())).second) unique.push_back(keys[i]);
  if (static_cast<int64_t>(unique.size()) != n) {
    summed.assign(unique.size() * static_cast<size_t>(dim), 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      float* dst = summed.data() + position[keys[i]] * dim;
      for (int64_t j = 0; j < dim; ++j) dst[j] += grads[i * dim + j];
    }
    g = summed.data();
  }

  std::lock_guard<std::mutex> lock(mu_);
  ObserveStepLocked(step);
  const size_t num_slots = optimizer_.SlotNames().size();
  float* slots[2] = {nullptr, nullptr};
  for (size_t u = 0; u < unique.size(); ++u) {
    if (u % kPrefetchBatch == 0) PrefetchLocked(unique.data() + u, static_cast<int64_t>(unique.size() - u));
    const uint32_t r = FindLocked(unique[u]);
    if (r == kNoRow) {
      ++stats_.dropped_updates;
      continue;
    }
    float* row = slab_->row(r);
    for (size_t s = 0; s < num_slots; ++s) slots[s] = row + (s + 1) * dim;
    optimizer_.ApplyRange(row, slots, g + u * dim, dim, step);
    TouchLocked(r, step);
    slab_->header(r).flags |= kDirty;
    ++stats_.updates;
  }
  return Status::OK();
}

int64_t EmbeddingTable::EvictExpired(int64_t step) {
  std::lock_guard<std::mutex> lock(mu_);
  newest_step_ = std::max(newest_step_, step);
  return EvictExpiredLocked(step);
}

int64_t EmbeddingTable::MemoryBytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return slab_->bytes() + static_cast<int64_t>(index_.size() * sizeof(uint32_t));
}

EmbeddingTableStats EmbeddingTable::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  EmbeddingTableStats s = stats_;
  s.rows = slab_->size();
  s.row_bytes = s.rows * stride_ * static_cast<int64_t>(sizeof(float));
  s.memory_bytes = slab_->bytes() + static_cast<int64_t>(index_.size() * sizeof(uint32_t));
  return s;
}

std::vector<HotKey> EmbeddingTable::HotKeys(int k) const {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t window = newest_step_ / spec_.hot_window_steps;
  std::vector<HotKey> all;
  for (uint32_t r = 0; r < slab_->size(); ++r) {
    const RowHeader& h = slab_->header(r);
    if (h.last_step / spec_.hot_window_steps == window && h.window_lookups > 0)
      all.push_back({h.key, h.window_lookups});
  }
  const size_t top = std::min(all.size(), static_cast<size_t>(std::max(k, 0)));
  auto hotter = [](const HotKey& a, const HotKey& b) {
    return a.lookups != b.lookups ? a.lookups > b.lookups : a.key < b.key;
  };
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(top), all.end(), hotter);
  all.resize(top);
  return all;
}

std::vector<int64_t> EmbeddingTable::EvictedKeys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {recent_evictions_.begin(), recent_evictions_.end()};
}

bool EmbeddingTable::ReadRow(int64_t key, std::vector<float>* row) const {
  std::lock_guard<std::mutex> lock(mu_);
  const uint32_t r = FindLocked(key);
  if (r == kNoRow) return false;
  if (row != nullptr) row->assign(slab_->row(r), slab_->row(r) + stride_);
  return true;
}

// ---- checkpoints ------------------------------------------------------------------

TableRows EmbeddingTable::Checkpoint(bool incremental) {
  std::lock_guard<std::mutex> lock(mu_);
  TableRows out;
  out.stride = stride_;
  for (uint32_t r = 0; r < slab_->size(); ++r) {
    RowHeader& h = slab_->header(r);
    if (!incremental || (h.flags & kDirty) != 0) {
      out.keys.push_back(h.key);
      out.last_steps.push_back(h.last_step);
      out.values.insert(out.values.end(), slab_->row(r), slab_->row(r) + stride_);
    }
    h.flags &= ~kDirty;
  }
  if (incremental) out.deleted_keys.assign(deleted_since_checkpoint_.begin(), deleted_since_checkpoint_.end());
  std::sort(out.deleted_keys.begin(), out.deleted_keys.end());
  deleted_since_checkpoint_.clear();
  tracking_changes_ = true;
  return out;
}

Status EmbeddingTable::Load(const TableRows& rows, const std::function<bool(int64_t)>& keep) {
  if (rows.stride != stride_ || rows.last_steps.size() != rows.keys.size() ||
      rows.values.size() != rows.keys.size() * static_cast<size_t>(rows.stride))
    return InvalidArgument("embedding table '" + spec_.name + "': checkpoint rows have stride " +
                           std::to_string(rows.stride) + ", the table " + std::to_string(stride_) +
                           " (dim " + std::to_string(spec_.dim) + " with optimizer " +
                           OptimizerKindName(spec_.optimizer.kind) + ")");
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < rows.keys.size(); ++i) {
    const int64_t key = rows.keys[i];
    if (!keep(key)) continue;
    uint32_t r = FindLocked(key);
    if (r == kNoRow) {
      r = CreateLocked(key, rows.last_steps[i]);
      --stats_.admitted;  // restored, not admitted
    }
    std::memcpy(slab_->row(r), rows.values.data() + i * static_cast<size_t>(stride_),
                static_cast<size_t>(stride_) * sizeof(float));
    slab_->header(r).last_step = rows.last_steps[i];
    slab_->header(r).flags &= ~kDirty;
    newest_step_ = std::max(newest_step_, rows.last_steps[i]);
  }
  for (int64_t key : rows.deleted_keys) {
    const uint32_t r = keep(key) ? FindLocked(key) : kNoRow;
    if (r != kNoRow) RemoveLocked(r);
  }
  return Status::OK();
}

}  // namespace flowps::ps

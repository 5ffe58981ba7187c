#include "ps/checkpoint.h"
#include "ps/table_checkpoint.h"

#include "core/shape_check.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <thread>

namespace flowps::ps {
namespace fs = std::filesystem;
namespace {

constexpr char kMagic[8] = {'F', 'L', 'O', 'W', 'P', 'S', 'C', 'K'};
constexpr char kEndMagic[8] = {'F', 'L', 'O', 'W', 'P', 'S', 'N', 'D'};
constexpr uint32_t kVersion = 1;
constexpr size_t kTrailerBytes = 8 + 4 + 8;

Status Errno(const std::string& what, const std::string& path) {
  return Internal(what + " " + path + ": " + std::strerror(errno));
}

Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Errno("cannot open directory", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::OK() : Errno("cannot fsync directory", dir);
}

// Appends to a file descriptor, keeping the payload's length and CRC.
class FileWriter {
 public:
  FileWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Status Bytes(const void* data, size_t n, bool payload = true) {
    const char* p = static_cast<const char*>(data);
    if (payload) {
      crc_ = crc32_z(crc_, reinterpret_cast<const Bytef*>(p), n);
      length_ += n;
    }
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Errno("cannot write", path_);
      p += w;
      n -= static_cast<size_t>(w);
    }
    return Status::OK();
  }
  template <typename T> Status Pod(T v) { return Bytes(&v, sizeof v); }
  Status Str(const std::string& s) {
    FLOWPS_RETURN_IF_ERROR(Pod<uint32_t>(static_cast<uint32_t>(s.size())));
    return Bytes(s.data(), s.size());
  }
  uint64_t length() const { return length_; }
  uint32_t crc() const { return static_cast<uint32_t>(crc_); }

 private:
  int fd_;
  std::string path_;
  uLong crc_ = crc32_z(0, nullptr, 0);
  uint64_t length_ = 0;
};

// Reads a payload that has been verified already; every read is bounds-checked.
class PayloadReader {
 public:
  PayloadReader(const char* p, size_t n, std::string path) : p_(p), end_(p + n), path_(std::move(path)) {}
  size_t left() const { return static_cast<size_t>(end_ - p_); }
  Status Bytes(void* out, size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return Corrupt("truncated record");
    std::memcpy(out, p_, n);
    p_ += n;
    return Status::OK();
  }
  template <typename T> Status Pod(T* v) { return Bytes(v, sizeof *v); }
  Status Str(std::string* s) {
    uint32_t n = 0;
    FLOWPS_RETURN_IF_ERROR(Pod(&n));
    if (static_cast<size_t>(end_ - p_) < n) return Corrupt("truncated string");
    s->assign(p_, n);
    p_ += n;
    return Status::OK();
  }
  Status Corrupt(const std::string& what) const {
    return FailedPrecondition(path_ + ": corrupt checkpoint: " + what);
  }
  bool done() const { return p_ == end_; }

 private:
  const char* p_;
  const char* end_;
  std::string path_;
};

Status WriteTensor(FileWriter& w, const std::string& slot_name, const Tensor& t) {
  FLOWPS_RETURN_IF_ERROR(w.Str(slot_name));
  FLOWPS_RETURN_IF_ERROR(w.Pod<uint64_t>(t.num_bytes()));
  return w.Bytes(t.raw_data(), t.num_bytes());
}

// Writes `path` atomically: `body` into path.tmp, then the trailer (payload
// length, CRC-32, `end_magic`), fsync, optional pause (tests), rename, fsync
// of the directory. Returns the file's size and the payload's CRC.
StatusOr<std::pair<uint64_t, uint32_t>> WriteChecksummedFile(const std::string& path, const char (&end_magic)[8],
                                                             const std::function<Status(FileWriter&)>& body,
                                                             int pause_before_rename_ms = 0) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  FileWriter w(fd, tmp);
  Status st = [&]() -> Status {
    FLOWPS_RETURN_IF_ERROR(body(w));
    const uint64_t length = w.length();
    const uint32_t crc = w.crc();
    FLOWPS_RETURN_IF_ERROR(w.Bytes(&length, sizeof length, false));
    FLOWPS_RETURN_IF_ERROR(w.Bytes(&crc, sizeof crc, false));
    FLOWPS_RETURN_IF_ERROR(w.Bytes(end_magic, sizeof end_magic, false));
    if (::fsync(fd) != 0) return Errno("cannot fsync", tmp);
    return Status::OK();
  }();
  ::close(fd);
  // A failed write leaves nothing: no temp file, and no directory that only it
  // made (rmdir removes an empty one only).
  const std::string parent = fs::path(path).parent_path().string();
  auto abandon = [&](Status why) {
    ::unlink(tmp.c_str());
    ::rmdir(parent.c_str());
    return why;
  };
  if (!st.ok()) return abandon(st);
  if (pause_before_rename_ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_before_rename_ms));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return abandon(Errno("cannot rename to", path));
  FLOWPS_RETURN_IF_ERROR(FsyncDir(parent));
  return std::make_pair(w.length() + kTrailerBytes, w.crc());
}

// The payload length of a file's contents `data` once its trailer (length,
// CRC-32, `end_magic`) checks out; FailedPrecondition naming `path` if not.
StatusOr<uint64_t> VerifiedPayloadLength(const std::string& data, const std::string& path,
                                         const char (&end_magic)[8], uint32_t* crc_out = nullptr) {
  auto corrupt = [&](const std::string& what) { return FailedPrecondition(path + ": corrupt checkpoint: " + what); };
  if (data.size() < kTrailerBytes + 8) return corrupt("too short");
  const char* trailer = data.data() + data.size() - kTrailerBytes;
  uint64_t length = 0;
  uint32_t crc = 0;
  std::memcpy(&length, trailer, sizeof length);
  std::memcpy(&crc, trailer + 8, sizeof crc);
  if (std::memcmp(trailer + 12, end_magic, sizeof end_magic) != 0) return corrupt("no end marker");
  if (length != data.size() - kTrailerBytes)
    return corrupt("length " + std::to_string(data.size() - kTrailerBytes) + " but the trailer says " +
                   std::to_string(length));
  const uint32_t actual = static_cast<uint32_t>(
      crc32_z(crc32_z(0, nullptr, 0), reinterpret_cast<const Bytef*>(data.data()), length));
  if (actual != crc) return corrupt("checksum mismatch");
  if (crc_out != nullptr) *crc_out = crc;
  return length;
}

StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + path);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Internal("cannot read " + path);
  return data;
}

// Writes `text` to `path` atomically (temp, fsync, rename, fsync dir).
Status WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  FileWriter w(fd, tmp);
  Status st = w.Bytes(text.data(), text.size());
  if (st.ok() && ::fsync(fd) != 0) st = Errno("cannot fsync", tmp);
  ::close(fd);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) st = Errno("cannot rename to", path);
  if (!st.ok()) {
    ::unlink(tmp.c_str());  // a failed write (a full disk) leaves no partial file
    return st;
  }
  return FsyncDir(fs::path(path).parent_path().string());
}

struct Manifest {
  int64_t step = 0;
  std::vector<CheckpointShardInfo> shards;
};

StatusOr<Manifest> ReadManifest(const std::string& dir, int64_t step) {
  const std::string path = CheckpointStepDir(dir, step) + "/MANIFEST";
  FLOWPS_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  std::istringstream in(text);
  std::string word;
  int version = 0;
  Manifest m;
  size_t num = 0;
  if (!(in >> word >> version) || word != "flowps-checkpoint" || version != 1 || !(in >> word >> m.step) ||
      word != "step" || !(in >> word >> num) || word != "shards")
    return FailedPrecondition(path + ": not a flowps checkpoint manifest");
  for (size_t i = 0; i < num; ++i) {
    CheckpointShardInfo info;
    if (!(in >> word >> info.shard >> info.bytes >> info.crc32) || word != "shard" ||
        info.shard != static_cast<int>(i))
      return FailedPrecondition(path + ": bad line for shard " + std::to_string(i));
    m.shards.push_back(info);
  }
  if (m.step != step) return FailedPrecondition(path + ": names step " + std::to_string(m.step));
  return m;
}

}  // namespace

std::string CheckpointStepDir(const std::string& dir, int64_t checkpoint_step) {
  return dir + "/step-" + std::to_string(checkpoint_step);
}

namespace {
// The checkpoint step of a directory named "step-<N>" (CheckpointStepDir), if it is one.
std::optional<int64_t> StepOfDirName(const std::string& name) {
  if (name.rfind("step-", 0) != 0 || name.size() == 5) return std::nullopt;
  char* end = nullptr;
  const long long step = std::strtoll(name.c_str() + 5, &end, 10);
  if (*end != '\0') return std::nullopt;
  return step;
}
}  // namespace

std::string CheckpointShardPath(const std::string& dir, int64_t checkpoint_step, int shard) {
  return CheckpointStepDir(dir, checkpoint_step) + "/shard-" + std::to_string(shard) + ".ckpt";
}

Status ProbeCheckpointDir(const std::string& dir, int shard) {
  auto refused = [&](const std::string& why) {
    return FailedPrecondition("checkpoint.dir '" + dir + "' is not writable: " + why);
  };
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return refused("cannot create it: " + ec.message());
  const std::string probe = dir + "/.probe-shard-" + std::to_string(shard) + "-" + std::to_string(::getpid());
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return refused(Errno("cannot create", probe).message());
  FileWriter w(fd, probe);
  const char block[4096] = {};
  Status st = w.Bytes(block, sizeof block);
  if (st.ok() && ::fsync(fd) != 0) st = Errno("cannot fsync", probe);
  ::close(fd);
  ::unlink(probe.c_str());
  if (!st.ok()) return refused(st.message());
  return Status::OK();
}

namespace {
// Removes shard `shard`'s files of incomplete checkpoints older than
// `checkpoint_step` (a round that failed on another shard, e.g. a full disk:
// the chief asks for a newer one only once the older round has ended), and
// their directories once empty. Best effort: what stays is never restored.
void RemoveAbandonedShardFiles(const std::string& dir, int64_t checkpoint_step, int shard) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::optional<int64_t> step = StepOfDirName(entry.path().filename().string());
    if (!step || *step >= checkpoint_step || fs::exists(entry.path() / "MANIFEST")) continue;
    const std::string file = CheckpointShardPath(dir, *step, shard);
    ::unlink(file.c_str());
    ::unlink((file + ".tmp").c_str());
    ::rmdir(entry.path().c_str());
  }
}
}  // namespace

StatusOr<CheckpointShardInfo> WriteShardCheckpoint(const std::string& dir, int64_t checkpoint_step, int shard,
                                                   int num_shards, const ShardSnapshot& snapshot,
                                                   int pause_before_rename_ms) {
  RemoveAbandonedShardFiles(dir, checkpoint_step, shard);
  const std::string step_dir = CheckpointStepDir(dir, checkpoint_step);
  std::error_code ec;
  fs::create_directories(step_dir, ec);
  if (ec) return Internal("cannot create checkpoint directory " + step_dir + ": " + ec.message());
  const std::string path = CheckpointShardPath(dir, checkpoint_step, shard);
  auto written = WriteChecksummedFile(path, kEndMagic, [&](FileWriter& w) -> Status {
    FLOWPS_RETURN_IF_ERROR(w.Bytes(kMagic, sizeof kMagic));
    FLOWPS_RETURN_IF_ERROR(w.Pod<uint32_t>(kVersion));
    FLOWPS_RETURN_IF_ERROR(w.Pod<uint32_t>(static_cast<uint32_t>(shard)));
    FLOWPS_RETURN_IF_ERROR(w.Pod<uint32_t>(static_cast<uint32_t>(num_shards)));
    FLOWPS_RETURN_IF_ERROR(w.Pod<int64_t>(checkpoint_step));
    FLOWPS_RETURN_IF_ERROR(w.Pod<int64_t>(snapshot.global_step));
    FLOWPS_RETURN_IF_ERROR(w.Pod<uint32_t>(static_cast<uint32_t>(snapshot.variables.size())));
    for (const VariableSnapshot& v : snapshot.variables) {
      FLOWPS_RETURN_IF_ERROR(w.Str(v.name));
      FLOWPS_RETURN_IF_ERROR(w.Pod<uint32_t>(static_cast<uint32_t>(v.full_shape.rank())));
      for (int64_t d : v.full_shape.dims()) FLOWPS_RETURN_IF_ERROR(w.Pod<int64_t>(d));
      FLOWPS_RETURN_IF_ERROR(w.Pod<int64_t>(v.row_begin));
      FLOWPS_RETURN_IF_ERROR(w.Pod<int64_t>(v.row_end));
      FLOWPS_RETURN_IF_ERROR(w.Pod<uint32_t>(static_cast<uint32_t>(1 + v.slots.size())));
      FLOWPS_RETURN_IF_ERROR(WriteTensor(w, "", v.value));
      for (size_t i = 0; i < v.slots.size(); ++i)
        FLOWPS_RETURN_IF_ERROR(WriteTensor(w, "slot" + std::to_string(i), v.slots[i]));
    }
    return Status::OK();
  }, pause_before_rename_ms);
  if (!written.ok()) return written.status();
  return CheckpointShardInfo{shard, written->first, written->second};
}

StatusOr<ShardSnapshot> ReadShardCheckpoint(const std::string& path, int shard, int num_shards,
                                            const std::optional<CheckpointShardInfo>& expected) {
  FLOWPS_ASSIGN_OR_RETURN(std::string data, ReadWholeFile(path));
  auto corrupt = [&](const std::string& what) { return FailedPrecondition(path + ": corrupt checkpoint: " + what); };
  uint32_t crc = 0;
  FLOWPS_ASSIGN_OR_RETURN(const uint64_t length, VerifiedPayloadLength(data, path, kEndMagic, &crc));
  if (expected && (expected->bytes != data.size() || expected->crc32 != crc))
    return corrupt("size or checksum differs from the MANIFEST");

  PayloadReader r(data.data(), length, path);
  char magic[8];
  uint32_t version = 0, file_shard = 0, file_shards = 0, num_vars = 0;
  int64_t checkpoint_step = 0;
  ShardSnapshot snap;
  FLOWPS_RETURN_IF_ERROR(r.Bytes(magic, sizeof magic));
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0) return corrupt("bad magic");
  FLOWPS_RETURN_IF_ERROR(r.Pod(&version));
  if (version != kVersion) return corrupt("unknown version " + std::to_string(version));
  FLOWPS_RETURN_IF_ERROR(r.Pod(&file_shard));
  FLOWPS_RETURN_IF_ERROR(r.Pod(&file_shards));
  if (static_cast<int>(file_shard) != shard || static_cast<int>(file_shards) != num_shards)
    return FailedPrecondition(path + ": written by shard " + std::to_string(file_shard) + " of " +
                              std::to_string(file_shards) + ", not shard " + std::to_string(shard) + " of " +
                              std::to_string(num_shards));
  FLOWPS_RETURN_IF_ERROR(r.Pod(&checkpoint_step));
  FLOWPS_RETURN_IF_ERROR(r.Pod(&snap.global_step));
  FLOWPS_RETURN_IF_ERROR(r.Pod(&num_vars));
  for (uint32_t i = 0; i < num_vars; ++i) {
    VariableSnapshot v;
    uint32_t rank = 0, num_tensors = 0;
    FLOWPS_RETURN_IF_ERROR(r.Str(&v.name));
    FLOWPS_RETURN_IF_ERROR(r.Pod(&rank));
    if (rank > 32) return corrupt("rank " + std::to_string(rank));
    std::vector<int64_t> dims(rank);
    for (int64_t& d : dims) FLOWPS_RETURN_IF_ERROR(r.Pod(&d));
    v.full_shape = Shape(dims);
    FLOWPS_RETURN_IF_ERROR(r.Pod(&v.row_begin));
    FLOWPS_RETURN_IF_ERROR(r.Pod(&v.row_end));
    FLOWPS_RETURN_IF_ERROR(r.Pod(&num_tensors));
    if (!v.full_shape.fully_defined() || v.row_begin < 0 || v.row_end < v.row_begin || num_tensors < 1)
      return corrupt("variable '" + v.name + "' has a bad header");
    if (rank > 0) dims[0] = v.row_end - v.row_begin;
    for (uint32_t t = 0; t < num_tensors; ++t) {
      std::string slot_name;
      uint64_t bytes = 0;
      FLOWPS_RETURN_IF_ERROR(r.Str(&slot_name));
      FLOWPS_RETURN_IF_ERROR(r.Pod(&bytes));
      // Checked before allocating: a corrupt header must not ask for 2^80 floats.
      const Shape part(dims);
      if (!CheckShape(part).ok() || bytes != static_cast<uint64_t>(part.num_elements()) * sizeof(float) ||
          bytes > r.left())
        return corrupt("variable '" + v.name + "' has a tensor of the wrong size");
      Tensor tensor(DType::kFloat32, part);
      FLOWPS_RETURN_IF_ERROR(r.Bytes(tensor.raw_data(), bytes));
      (t == 0 ? v.value : v.slots.emplace_back()) = tensor;
    }
    snap.variables.push_back(std::move(v));
  }
  if (!r.done()) return corrupt("trailing bytes");
  return snap;
}

Status CommitCheckpoint(const std::string& dir, int64_t checkpoint_step, int num_shards, int keep) {
  std::ostringstream manifest;
  manifest << "flowps-checkpoint 1\nstep " << checkpoint_step << "\nshards " << num_shards << "\n";
  for (int k = 0; k < num_shards; ++k) {
    const std::string path = CheckpointShardPath(dir, checkpoint_step, k);
    StatusOr<std::string> data = ReadWholeFile(path);
    if (!data.ok())
      return FailedPrecondition("checkpoint " + std::to_string(checkpoint_step) + " is incomplete: shard " +
                                std::to_string(k) + " has not written " + path);
    Status verified = ReadShardCheckpoint(path, k, num_shards).status();
    if (!verified.ok()) return verified;
    uint32_t crc = 0;
    std::memcpy(&crc, data->data() + data->size() - kTrailerBytes + 8, sizeof crc);
    manifest << "shard " << k << " " << data->size() << " " << crc << "\n";
  }
  FLOWPS_RETURN_IF_ERROR(WriteFileAtomically(CheckpointStepDir(dir, checkpoint_step) + "/MANIFEST", manifest.str()));

  // Prune: keep the newest `keep` complete checkpoints and nothing older, and
  // no incomplete one older than this (its write failed or was cut short).
  std::vector<int64_t> complete = CompleteCheckpoints(dir);
  const int64_t oldest_kept = keep >= 1 && static_cast<int>(complete.size()) > keep
                                  ? complete[static_cast<size_t>(keep - 1)]
                                  : std::numeric_limits<int64_t>::min();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::optional<int64_t> step = StepOfDirName(entry.path().filename().string());
    if (!step) continue;
    const bool abandoned = *step < checkpoint_step && !fs::exists(entry.path() / "MANIFEST");
    if (*step >= oldest_kept && !abandoned) continue;
    std::error_code rm_ec;
    fs::remove_all(entry.path(), rm_ec);
  }
  const std::vector<int64_t> kept = CompleteCheckpoints(dir);
  if (!kept.empty()) PruneTableCheckpoints(dir, kept.back());
  return Status::OK();
}

std::vector<int64_t> CompleteCheckpoints(const std::string& dir) {
  std::vector<int64_t> steps;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::optional<int64_t> step = StepOfDirName(entry.path().filename().string());
    if (step && fs::exists(entry.path() / "MANIFEST")) steps.push_back(*step);
  }
  std::sort(steps.rbegin(), steps.rend());
  return steps;
}

StatusOr<ShardSnapshot> ReadCompleteCheckpoint(const std::string& dir, int64_t checkpoint_step, int shard,
                                               int num_shards) {
  FLOWPS_ASSIGN_OR_RETURN(Manifest manifest, ReadManifest(dir, checkpoint_step));
  if (static_cast<int>(manifest.shards.size()) != num_shards)
    return FailedPrecondition("checkpoint " + std::to_string(checkpoint_step) + " has " +
                              std::to_string(manifest.shards.size()) + " shards, this job has " +
                              std::to_string(num_shards));
  return ReadShardCheckpoint(CheckpointShardPath(dir, checkpoint_step, shard), shard, num_shards,
                             manifest.shards[static_cast<size_t>(shard)]);
}

StatusOr<std::optional<std::pair<int64_t, ShardSnapshot>>> RestoreNewestCheckpoint(
    const std::string& dir, int shard, int num_shards, std::vector<std::string>* skipped) {
  for (int64_t step : CompleteCheckpoints(dir)) {
    StatusOr<ShardSnapshot> snap = ReadCompleteCheckpoint(dir, step, shard, num_shards);
    if (!snap.ok()) {
      skipped->push_back(snap.status().message());
      continue;
    }
    return std::optional<std::pair<int64_t, ShardSnapshot>>(std::make_pair(step, std::move(*snap)));
  }
  return std::optional<std::pair<int64_t, ShardSnapshot>>();
}

}  // namespace flowps::ps

// ---- embedding tables (declared in ps/table_checkpoint.h) ----------------------

namespace flowps::ps {

namespace {
constexpr char kTableMagic[8] = {'F', 'P', 'T', 'A', 'B', 'L', 'E', '1'};
constexpr char kTableEndMagic[8] = {'F', 'P', 'T', 'A', 'B', 'E', 'N', 'D'};

std::string TableStepDir(const std::string& dir, const std::string& table, int64_t step, bool incremental) {
  return dir + "/tables/" + table + "/step-" + std::to_string(step) + (incremental ? ".incr" : ".full");
}

std::optional<std::pair<int64_t, bool>> TableStepOfDirName(const std::string& name);

// The table step directories of `table` (step, incremental), in step order.
std::vector<std::pair<int64_t, bool>> TableSteps(const std::string& dir, const std::string& table) {
  std::vector<std::pair<int64_t, bool>> steps;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir + "/tables/" + table, ec))
    if (auto step = TableStepOfDirName(e.path().filename().string())) steps.push_back(*step);
  std::sort(steps.begin(), steps.end());
  return steps;
}

// Removes shard `shard` of `num_shards`'s files of `table` at steps after
// `step` (and their directories once empty).
void RemoveNewerTableFiles(const std::string& dir, const std::string& table, int64_t step, int shard,
                           int num_shards) {
  for (const auto& [s, incremental] : TableSteps(dir, table)) {
    if (s <= step) continue;
    std::error_code ec;
    fs::remove(TableCheckpointPath(dir, table, s, incremental, shard, num_shards), ec);
    ::rmdir(TableStepDir(dir, table, s, incremental).c_str());
  }
}
}  // namespace

std::string TableCheckpointPath(const std::string& dir, const std::string& table, int64_t step,
                                bool incremental, int shard, int num_shards) {
  return TableStepDir(dir, table, step, incremental) + "/shard-" + std::to_string(shard) + "-of-" +
         std::to_string(num_shards) + ".rows";
}

Status WriteTableCheckpoint(const std::string& dir, const std::string& table, int64_t step, bool incremental,
                            int shard, int num_shards, const TableRows& rows) {
  const std::string step_dir = TableStepDir(dir, table, step, incremental);
  std::error_code ec;
  fs::create_directories(step_dir, ec);
  if (ec) return Internal("cannot create checkpoint directory " + step_dir + ": " + ec.message());
  if (!incremental) RemoveNewerTableFiles(dir, table, step, shard, num_shards);
  const std::string path = TableCheckpointPath(dir, table, step, incremental, shard, num_shards);
  return WriteChecksummedFile(path, kTableEndMagic, [&](FileWriter& w) -> Status {
    FLOWPS_RETURN_IF_ERROR(w.Bytes(kTableMagic, sizeof kTableMagic));
    FLOWPS_RETURN_IF_ERROR(w.Pod<uint64_t>(static_cast<uint64_t>(rows.stride)));
    FLOWPS_RETURN_IF_ERROR(w.Pod<uint64_t>(rows.keys.size()));
    const size_t row_bytes = static_cast<size_t>(rows.stride) * sizeof(float);
    for (size_t i = 0; i < rows.keys.size(); ++i) {
      FLOWPS_RETURN_IF_ERROR(w.Pod<int64_t>(rows.keys[i]));
      FLOWPS_RETURN_IF_ERROR(w.Pod<int64_t>(rows.last_steps[i]));
      FLOWPS_RETURN_IF_ERROR(w.Bytes(rows.values.data() + i * static_cast<size_t>(rows.stride), row_bytes));
    }
    FLOWPS_RETURN_IF_ERROR(w.Pod<uint64_t>(rows.deleted_keys.size()));
    if (!rows.deleted_keys.empty())  // (crc32_z of a null buffer would reset the checksum)
      FLOWPS_RETURN_IF_ERROR(w.Bytes(rows.deleted_keys.data(), rows.deleted_keys.size() * sizeof(int64_t)));
    return Status::OK();
  }).status();
}

StatusOr<TableRows> ReadTableCheckpoint(const std::string& path) {
  FLOWPS_ASSIGN_OR_RETURN(std::string data, ReadWholeFile(path));
  FLOWPS_ASSIGN_OR_RETURN(const uint64_t length, VerifiedPayloadLength(data, path, kTableEndMagic));
  PayloadReader r(data.data(), length, path);
  char magic[8];
  uint64_t stride = 0, n = 0, deleted = 0;
  FLOWPS_RETURN_IF_ERROR(r.Bytes(magic, sizeof magic));
  if (std::memcmp(magic, kTableMagic, sizeof kTableMagic) != 0) return r.Corrupt("bad magic");
  FLOWPS_RETURN_IF_ERROR(r.Pod(&stride));
  FLOWPS_RETURN_IF_ERROR(r.Pod(&n));
  // Sizes are checked against what is left before anything is allocated.
  if (stride == 0 || stride > (1u << 20) || n > r.left() / (16 + stride * sizeof(float)))
    return r.Corrupt("row count or stride does not fit the file");
  TableRows rows;
  rows.stride = static_cast<int64_t>(stride);
  rows.keys.resize(n);
  rows.last_steps.resize(n);
  rows.values.resize(n * stride);
  for (uint64_t i = 0; i < n; ++i) {
    FLOWPS_RETURN_IF_ERROR(r.Pod(&rows.keys[i]));
    FLOWPS_RETURN_IF_ERROR(r.Pod(&rows.last_steps[i]));
    FLOWPS_RETURN_IF_ERROR(r.Bytes(rows.values.data() + i * stride, stride * sizeof(float)));
  }
  FLOWPS_RETURN_IF_ERROR(r.Pod(&deleted));
  if (deleted != r.left() / sizeof(int64_t) || r.left() % sizeof(int64_t) != 0)
    return r.Corrupt("deleted-key count does not fit the file");
  rows.deleted_keys.resize(deleted);
  FLOWPS_RETURN_IF_ERROR(r.Bytes(rows.deleted_keys.data(), deleted * sizeof(int64_t)));
  return rows;
}

namespace {
// The step and kind of a directory named "step-<N>.full" or "step-<N>.incr".
std::optional<std::pair<int64_t, bool>> TableStepOfDirName(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return std::nullopt;
  const std::string kind = name.substr(dot + 1);
  if (kind != "full" && kind != "incr") return std::nullopt;
  std::optional<int64_t> step = StepOfDirName(name.substr(0, dot));
  if (!step) return std::nullopt;
  return std::make_pair(*step, kind == "incr");
}

// The shard files of a step directory if all n of some shard count n are there.
std::optional<std::vector<std::string>> CompleteTableStepFiles(const fs::path& step_dir) {
  std::vector<std::string> files;
  int num_shards = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(step_dir, ec)) {
    int k = 0, n = 0;
    char tail[8] = {};
    if (std::sscanf(e.path().filename().c_str(), "shard-%d-of-%d.%7s", &k, &n, tail) != 3 ||
        std::string(tail) != "rows" || n < 1 || (num_shards != -1 && n != num_shards))
      continue;
    num_shards = n;
    files.push_back(e.path().string());
  }
  if (ec || num_shards < 1 || static_cast<int>(files.size()) != num_shards) return std::nullopt;
  std::sort(files.begin(), files.end());
  return files;
}
}  // namespace

std::vector<TableCheckpointStep> TableRestoreChain(const std::string& dir, const std::string& table) {
  std::vector<TableCheckpointStep> steps;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir + "/tables/" + table, ec)) {
    auto step = TableStepOfDirName(e.path().filename().string());
    if (!step) continue;
    TableCheckpointStep s{step->first, step->second, {}};
    if (auto files = CompleteTableStepFiles(e.path())) s.files = *files;
    steps.push_back(std::move(s));
  }
  std::sort(steps.begin(), steps.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  // The newest complete full checkpoint, then increments until one is incomplete.
  auto full = std::find_if(steps.rbegin(), steps.rend(), [](const auto& s) { return !s.incremental && !s.files.empty(); });
  if (full == steps.rend()) return {};
  std::vector<TableCheckpointStep> chain;
  for (auto it = full.base() - 1; it != steps.end(); ++it) {
    if (it != full.base() - 1 && (!it->incremental || it->files.empty())) break;
    chain.push_back(*it);
  }
  return chain;
}

StatusOr<int64_t> RestoreTableShard(const std::string& dir, int shard, int num_shards, EmbeddingTable* out) {
  int64_t restored = -1;
  auto mine = [&](int64_t key) { return TableShardOf(key, num_shards) == shard; };
  for (const TableCheckpointStep& step : TableRestoreChain(dir, out->spec().name)) {
    for (const std::string& file : step.files) {
      FLOWPS_ASSIGN_OR_RETURN(TableRows rows, ReadTableCheckpoint(file));
      Status s = out->Load(rows, mine);
      if (!s.ok()) return FailedPrecondition(file + ": " + s.message());
    }
    restored = step.step;
  }
  return restored;
}

StatusOr<bool> RestoreTableAtStep(const std::string& dir, int64_t step, int shard, int num_shards,
                                  EmbeddingTable* out) {
  FLOWPS_ASSIGN_OR_RETURN(Manifest manifest, ReadManifest(dir, step));
  const int n = static_cast<int>(manifest.shards.size());
  const std::string& table = out->spec().name;
  const std::vector<std::pair<int64_t, bool>> steps = TableSteps(dir, table);
  auto has = [&](int64_t s, bool incremental, int j) {
    return fs::exists(TableCheckpointPath(dir, table, s, incremental, j, n));
  };
  auto mine = [&](int64_t key) { return TableShardOf(key, num_shards) == shard; };
  bool any = false;
  for (int j = 0; j < n; ++j) {
    if (!has(step, false, j) && !has(step, true, j)) continue;  // the table was not there at `step`
    any = true;
    int64_t full = -1;
    for (const auto& [s, incremental] : steps)
      if (!incremental && s <= step && has(s, false, j)) full = s;
    if (full < 0)
      return FailedPrecondition("embedding table '" + table + "': checkpoint " + std::to_string(step) +
                                " has no full table file of old ps shard " + std::to_string(j) + " of " +
                                std::to_string(n) + " to start from");
    for (const auto& [s, incremental] : steps) {
      if (s < full || s > step || (s == full && incremental) || !has(s, incremental, j)) continue;
      const std::string file = TableCheckpointPath(dir, table, s, incremental, j, n);
      FLOWPS_ASSIGN_OR_RETURN(TableRows rows, ReadTableCheckpoint(file));
      Status loaded = out->Load(rows, mine);
      if (!loaded.ok()) return FailedPrecondition(file + ": " + loaded.message());
    }
  }
  if (any)
    for (int j = 0; j < n; ++j)
      if (!has(step, false, j) && !has(step, true, j))
        return FailedPrecondition("embedding table '" + table + "': checkpoint " + std::to_string(step) +
                                  " lacks the table file of old ps shard " + std::to_string(j) + " of " +
                                  std::to_string(n));
  return any;
}

void PruneTableCheckpoints(const std::string& dir, int64_t oldest_kept) {
  std::error_code ec;
  for (const auto& t : fs::directory_iterator(dir + "/tables", ec)) {
    const std::string table = t.path().filename().string();
    int64_t full = -1;
    for (const auto& [s, incremental] : TableSteps(dir, table))
      if (!incremental && s <= oldest_kept && CompleteTableStepFiles(TableStepDir(dir, table, s, false))) full = s;
    if (full < 0) continue;
    for (const auto& [s, incremental] : TableSteps(dir, table)) {
      if (s >= full) continue;
      std::error_code rm_ec;
      fs::remove_all(TableStepDir(dir, table, s, incremental), rm_ec);
    }
  }
}

}  // namespace flowps::ps

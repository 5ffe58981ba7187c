// The npy / npz reader (record_reader.h): arrays memory-mapped, rows read in
// place.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include "data/npy_format.h"
#include "data/record_reader.h"

namespace flowps::data {
namespace {

namespace fs = std::filesystem;

// A read-only mapping of a whole file.
class MappedFile {
 public:
  static StatusOr<std::shared_ptr<MappedFile>> Open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NotFound(path + ": cannot open file");
    struct stat st {};
    ::fstat(fd, &st);
    auto m = std::shared_ptr<MappedFile>(new MappedFile);
    m->size_ = static_cast<size_t>(st.st_size);
    if (m->size_ > 0) {
      void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        return Unavailable(path + ": cannot map the file");
      }
      ::madvise(p, m->size_, MADV_SEQUENTIAL);
      m->data_ = static_cast<const char*>(p);
    }
    ::close(fd);
    return m;
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
  }
  const char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  MappedFile() = default;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

// A deflated zip entry (np.savez_compressed), inflated in order a row at a
// time: memory stays bounded by zlib's window, whatever the entry's size.
class Inflater {
 public:
  Inflater(std::string where, const char* data, size_t size) : where_(std::move(where)) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    z_.avail_in = static_cast<uInt>(size);
    ok_ = inflateInit2(&z_, -MAX_WBITS) == Z_OK;  // raw deflate, as zip stores it
  }
  ~Inflater() {
    if (ok_) inflateEnd(&z_);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // The next n bytes; "where:record: ..." when the data is corrupt or ends early.
  Status Read(char* out, size_t n, int64_t record) {
    const std::string at = where_ + ":" + std::to_string(record) + ": ";
    if (!ok_) return Internal(at + "zlib could not start inflating");
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = static_cast<uInt>(n);
    while (z_.avail_out > 0) {
      const int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END && z_.avail_out > 0) return InvalidArgument(at + "the compressed entry ends early");
      if (rc != Z_OK && rc != Z_STREAM_END)
        return InvalidArgument(at + "the compressed entry is corrupt (" + (z_.msg ? z_.msg : "zlib error") + ")");
    }
    return Status::OK();
  }

 private:
  std::string where_;
  z_stream z_{};
  bool ok_ = false;
};

struct MappedArray {
  std::string where;  // "path" or "archive.npz/entry.npy"
  NpyHeader header;
  const char* rows = nullptr;  // the first row; nullptr when inflated
  std::shared_ptr<Inflater> inflater;  // a deflated npz entry: its rows, in order
  size_t row_bytes = 0;
};

// The column dtype an npy dtype is read as.
DType ColumnDType(NpyType t) {
  switch (t) {
    case NpyType::kFloat32:
    case NpyType::kFloat64: return DType::kFloat32;
    case NpyType::kInt64: return DType::kInt64;
    default: return DType::kInt32;
  }
}

// The array of header h in an .npy file of `size` bytes.
StatusOr<MappedArray> ArrayOf(const std::string& where, NpyHeader h, size_t size) {
  MappedArray a;
  a.where = where;
  a.header = std::move(h);
  if (a.header.shape.empty()) return InvalidArgument(where + ":0: a scalar array has no rows");
  a.row_bytes = NpyTypeSize(a.header.type);
  for (size_t i = 1; i < a.header.shape.size(); ++i) a.row_bytes *= static_cast<size_t>(a.header.shape[i]);
  const size_t need = a.header.data_offset + a.row_bytes * static_cast<size_t>(a.header.shape[0]);
  if (size < need)
    return InvalidArgument(where + ":0: the header promises " + std::to_string(need - a.header.data_offset) +
                           " bytes of data but the file holds " + std::to_string(size - a.header.data_offset));
  return a;
}

StatusOr<MappedArray> MapArray(const std::string& where, const char* bytes, size_t size) {
  FLOWPS_ASSIGN_OR_RETURN(NpyHeader h, ParseNpyHeader(where, bytes, size));
  FLOWPS_ASSIGN_OR_RETURN(MappedArray a, ArrayOf(where, std::move(h), size));
  a.rows = bytes + a.header.data_offset;
  return a;
}

// A deflated .npy entry of `size` bytes inflated: its header is read, its
// rows come later through the inflater.
StatusOr<MappedArray> InflateArray(const std::string& where, const char* deflated, size_t deflated_size, size_t size) {
  auto inflater = std::make_shared<Inflater>(where, deflated, deflated_size);
  std::string header(12, '\0');
  FLOWPS_RETURN_IF_ERROR(inflater->Read(header.data(), 10, 0));
  size_t len = 0;
  if (header[6] == 1) {
    len = 10 + (static_cast<uint8_t>(header[8]) | size_t{static_cast<uint8_t>(header[9])} << 8);
  } else {
    FLOWPS_RETURN_IF_ERROR(inflater->Read(header.data() + 10, 2, 0));
    for (int i = 3; i >= 0; --i) len = len << 8 | static_cast<uint8_t>(header[8 + i]);
    len += 12;
  }
  if (len > size || len > (size_t{1} << 20)) return InvalidArgument(where + ":0: truncated header");
  const size_t read = header[6] == 1 ? 10 : 12;
  header.resize(len);
  FLOWPS_RETURN_IF_ERROR(inflater->Read(header.data() + read, len - read, 0));
  FLOWPS_ASSIGN_OR_RETURN(NpyHeader h, ParseNpyHeader(where, header.data(), header.size()));
  FLOWPS_ASSIGN_OR_RETURN(MappedArray a, ArrayOf(where, std::move(h), size));
  a.inflater = std::move(inflater);
  return a;
}

uint16_t Le16(const char* p) { return static_cast<uint16_t>(uint8_t(p[0]) | uint8_t(p[1]) << 8); }
uint32_t Le32(const char* p) { return uint32_t{Le16(p)} | uint32_t{Le16(p + 2)} << 16; }

// The .npy entries of a zip archive: stored ones (np.savez) mapped in place,
// deflated ones (np.savez_compressed) inflated as they are read.
StatusOr<std::vector<std::pair<std::string, MappedArray>>> MapNpz(const std::string& path, const MappedFile& f) {
  const char* d = f.data();
  const size_t n = f.size();
  // The end of central directory record: signature PK\5\6, at most 64 KiB + 22 from the end.
  size_t eocd = std::string::npos;
  for (size_t i = n >= 22 ? n - 22 : 0; n >= 22; --i) {
    if (Le32(d + i) == 0x06054b50) {
      eocd = i;
      break;
    }
    if (i == 0 || n - i > 65557) break;
  }
  if (eocd == std::string::npos) return InvalidArgument(path + ":0: not a zip archive (no end of central directory)");
  const size_t entries = Le16(d + eocd + 10);
  size_t p = Le32(d + eocd + 16);
  std::vector<std::pair<std::string, MappedArray>> out;
  for (size_t e = 0; e < entries; ++e) {
    if (p + 46 > n || Le32(d + p) != 0x02014b50) return InvalidArgument(path + ":0: a broken zip central directory");
    const uint16_t method = Le16(d + p + 10);
    const uint32_t csize = Le32(d + p + 20), usize = Le32(d + p + 24);
    const size_t name_len = Le16(d + p + 28), extra_len = Le16(d + p + 30), comment_len = Le16(d + p + 32);
    const size_t local = Le32(d + p + 42);
    std::string name(d + p + 46, std::min(name_len, n - p - 46));
    p += 46 + name_len + extra_len + comment_len;
    if (csize == 0xffffffffu || usize == 0xffffffffu || local == 0xffffffffu)
      return InvalidArgument(path + ":0: entry '" + name + "' is a zip64 entry, which is not supported");
    if (method != 0 && method != 8)
      return InvalidArgument(path + ":0: entry '" + name + "' is compressed by zip method " + std::to_string(method) +
                             "; stored (np.savez) and deflated (np.savez_compressed) entries are read");
    if (local + 30 > n || Le32(d + local) != 0x04034b50)
      return InvalidArgument(path + ":0: entry '" + name + "' has a broken local header");
    const size_t data = local + 30 + Le16(d + local + 26) + Le16(d + local + 28);
    if (data + csize > n) return InvalidArgument(path + ":0: entry '" + name + "' runs past the end of the file");
    if (name.size() < 4 || name.substr(name.size() - 4) != ".npy") continue;
    StatusOr<MappedArray> a = method == 0 ? MapArray(path + "/" + name, d + data, csize)
                                          : InflateArray(path + "/" + name, d + data, csize, usize);
    FLOWPS_RETURN_IF_ERROR(a.status());
    out.emplace_back(name.substr(0, name.size() - 4), std::move(*a));
  }
  return out;
}

class NpyReader final : public RecordReader {
 public:
  static constexpr int64_t kBlockRecords = 256;

  NpyReader(std::vector<std::shared_ptr<MappedFile>> files, std::vector<MappedArray> arrays, Schema schema, int64_t rows)
      : files_(std::move(files)), arrays_(std::move(arrays)), schema_(std::move(schema)), rows_(rows) {}

  const Schema& schema() const override { return schema_; }
  StatusOr<int64_t> CountRecords() override { return rows_ - row_; }

  // Up to kBlockRecords rows of every array, converted straight into the
  // block: from the mapping, or from the inflater for a deflated entry.
  Status NextBlock(RecordBlock* out) override {
    out->Reset(schema_);
    const size_t n = static_cast<size_t>(std::min(kBlockRecords, rows_ - row_));
    if (n == 0) return Status::OK();
    for (size_t c = 0; c < arrays_.size(); ++c) {
      const MappedArray& a = arrays_[c];
      const size_t values = a.row_bytes / NpyTypeSize(a.header.type) * n;
      const char* src = a.rows != nullptr ? a.rows + a.row_bytes * static_cast<size_t>(row_) : nullptr;
      if (a.inflater != nullptr) {
        inflated_.resize(a.row_bytes * n);
        Status read = a.inflater->Read(inflated_.data(), inflated_.size(), row_ + 1);
        if (!read.ok()) {
          out->Reset(schema_);
          return read;
        }
        src = inflated_.data();
      }
      ConvertNpyValues(a.header.type, src, values, out->Grow(c, values * DTypeSize(schema_[c].dtype)));
    }
    for (size_t i = 0; i < n; ++i) out->EndRecord();
    row_ += static_cast<int64_t>(n);
    return Status::OK();
  }

 private:
  std::vector<std::shared_ptr<MappedFile>> files_;  // keep the mappings alive
  std::vector<MappedArray> arrays_;
  Schema schema_;
  int64_t rows_;
  int64_t row_ = 0;
  std::vector<char> inflated_;  // rows of a deflated entry
};

}  // namespace

StatusOr<std::unique_ptr<RecordReader>> OpenNpyReader(const std::string& path) {
  std::vector<std::shared_ptr<MappedFile>> files;
  std::vector<std::pair<std::string, MappedArray>> named;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> npys;
    for (const auto& e : fs::directory_iterator(path, ec))
      if (e.path().extension() == ".npy") npys.push_back(e.path());
    std::sort(npys.begin(), npys.end());
    for (const fs::path& p : npys) {
      FLOWPS_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> f, MappedFile::Open(p.string()));
      FLOWPS_ASSIGN_OR_RETURN(MappedArray a, MapArray(p.string(), f->data(), f->size()));
      files.push_back(f);
      named.emplace_back(p.stem().string(), std::move(a));
    }
  } else {
    FLOWPS_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> f, MappedFile::Open(path));
    files.push_back(f);
    FLOWPS_ASSIGN_OR_RETURN(named, MapNpz(path, *f));
  }
  if (named.empty()) return InvalidArgument(path + ": holds no .npy arrays");
  std::sort(named.begin(), named.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  Schema schema;
  std::vector<MappedArray> arrays;
  const int64_t rows = named[0].second.header.shape[0];
  for (auto& [name, a] : named) {
    if (a.header.shape[0] != rows)
      return InvalidArgument(a.where + ":0: has " + std::to_string(a.header.shape[0]) + " rows but " +
                             named[0].second.where + " has " + std::to_string(rows));
    std::vector<int64_t> shape(a.header.shape.begin() + 1, a.header.shape.end());
    schema.push_back({name, ColumnDType(a.header.type), shape, ""});
    arrays.push_back(std::move(a));
  }
  return std::unique_ptr<RecordReader>(new NpyReader(std::move(files), std::move(arrays), std::move(schema), rows));
}

}  // namespace flowps::data

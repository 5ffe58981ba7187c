#include "data/example_writer.h"

#include <zlib.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "data/npy_format.h"

namespace flowps::data {
namespace {

namespace fs = std::filesystem;

// A gzip or plain output file with a buffer of formatted text.
class TextOut {
 public:
  static StatusOr<TextOut> Open(const std::string& path) {
    const bool gz = path.size() > 3 && path.substr(path.size() - 3) == ".gz";
    gzFile f = gzopen(path.c_str(), gz ? "wb6" : "wbT");
    if (f == nullptr) return Unavailable(path + ": cannot create the file");
    gzbuffer(f, 1 << 18);
    return TextOut(path, f);
  }
  void Put(std::string_view s) { buffer_.append(s); }
  void Put(char c) { buffer_.push_back(c); }
  template <typename T> void Number(T v) {
    char tmp[32];
    auto [end, ec] = std::to_chars(tmp, tmp + sizeof tmp, v);
    buffer_.append(tmp, end);
  }
  Status EndLine() {
    buffer_.push_back('\n');
    return buffer_.size() > (1 << 16) ? Flush() : Status::OK();
  }
  Status Close() {
    FLOWPS_RETURN_IF_ERROR(Flush());
    int rc = gzclose(file_.release());
    return rc == Z_OK ? Status::OK() : Unavailable(path_ + ": cannot finish writing the file");
  }

 private:
  TextOut(std::string path, gzFile f) : path_(std::move(path)), file_(f, gzclose) {}
  Status Flush() {
    if (!buffer_.empty() && gzwrite(file_.get(), buffer_.data(), static_cast<unsigned>(buffer_.size())) <= 0)
      return Unavailable(path_ + ": cannot write");
    buffer_.clear();
    return Status::OK();
  }
  std::string path_;
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file_;
  std::string buffer_;
};

// Column positions of the label and the dense float features, or the ragged ids/values.
struct Layout {
  int label = -1, features = -1, ids = -1, values = -1;
};

Layout LayoutOf(const Schema& schema) {
  Layout l;
  for (size_t i = 0; i < schema.size(); ++i) {
    const ColumnSpec& c = schema[i];
    const int at = static_cast<int>(i);
    if (c.name == "label" && c.dtype == DType::kInt32 && c.shape.empty() && !c.ragged()) l.label = at;
    else if (c.ragged() && c.dtype == DType::kInt64 && c.name == "ids") l.ids = at;
    else if (c.ragged() && c.dtype == DType::kFloat32 && c.name == "values") l.values = at;
    else if (!c.ragged() && c.dtype == DType::kFloat32 && l.features < 0) l.features = at;
  }
  return l;
}

class CsvWriter final : public ExampleWriter {
 public:
  CsvWriter(TextOut out, Layout l) : out_(std::move(out)), l_(l) {}
  Status Write(const Example& e) override {
    const size_t n = e.Count<float>(static_cast<size_t>(l_.features));
    if (!header_) {
      out_.Put("label");
      for (size_t i = 0; i < n; ++i) {
        out_.Put(",f");
        out_.Number(i);
      }
      FLOWPS_RETURN_IF_ERROR(out_.EndLine());
      header_ = true;
    }
    out_.Number(e.Values<int32_t>(static_cast<size_t>(l_.label))[0]);
    const float* f = e.Values<float>(static_cast<size_t>(l_.features));
    for (size_t i = 0; i < n; ++i) {
      out_.Put(',');
      out_.Number(f[i]);
    }
    return out_.EndLine();
  }
  Status Close() override { return out_.Close(); }

 private:
  TextOut out_;
  Layout l_;
  bool header_ = false;
};

class LibsvmWriter final : public ExampleWriter {
 public:
  LibsvmWriter(TextOut out, Layout l) : out_(std::move(out)), l_(l) {}
  Status Write(const Example& e) override {
    out_.Number(e.Values<int32_t>(static_cast<size_t>(l_.label))[0]);
    if (l_.ids >= 0) {
      const int64_t* ids = e.Values<int64_t>(static_cast<size_t>(l_.ids));
      const float* values = e.Values<float>(static_cast<size_t>(l_.values));
      for (size_t i = 0; i < e.Count<int64_t>(static_cast<size_t>(l_.ids)); ++i) Pair(ids[i], values[i]);
    } else {
      const float* f = e.Values<float>(static_cast<size_t>(l_.features));
      for (size_t i = 0; i < e.Count<float>(static_cast<size_t>(l_.features)); ++i)
        if (f[i] != 0.f) Pair(static_cast<int64_t>(i), f[i]);
    }
    return out_.EndLine();
  }
  Status Close() override { return out_.Close(); }

 private:
  void Pair(int64_t id, float v) {
    out_.Put(' ');
    out_.Number(id);
    out_.Put(':');
    out_.Number(v);
  }
  TextOut out_;
  Layout l_;
};

NpyType NpyTypeOf(DType d) {
  return d == DType::kFloat32 ? NpyType::kFloat32 : d == DType::kInt64 ? NpyType::kInt64 : NpyType::kInt32;
}

// One .npy per column; the header is written with room to spare and
// rewritten with the row count on Close.
class NpyWriter final : public ExampleWriter {
 public:
  static StatusOr<std::unique_ptr<ExampleWriter>> Open(const std::string& dir, const Schema& schema) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    std::unique_ptr<NpyWriter> w(new NpyWriter(schema));
    for (const ColumnSpec& c : schema) {
      std::string path = (fs::path(dir) / (c.name + ".npy")).string();
      std::FILE* f = std::fopen(path.c_str(), "wb");
      if (f == nullptr) return Unavailable(path + ": cannot create the file");
      w->files_.emplace_back(f, std::fclose);
      w->paths_.push_back(path);
      FLOWPS_ASSIGN_OR_RETURN(std::string header, NpyHeaderBytes(NpyTypeOf(c.dtype), w->Shape(c, 0)));
      std::fwrite(header.data(), 1, header.size(), f);
    }
    return std::unique_ptr<ExampleWriter>(std::move(w));
  }
  Status Write(const Example& e) override {
    for (size_t c = 0; c < files_.size(); ++c) {
      const size_t want = static_cast<size_t>(schema_[c].values_per_example()) * DTypeSize(schema_[c].dtype);
      if (e.columns[c].size() != want) return Internal("column '" + schema_[c].name + "' has the wrong size");
      if (std::fwrite(e.columns[c].data(), 1, want, files_[c].get()) != want) return Unavailable(paths_[c] + ": cannot write");
    }
    ++rows_;
    return Status::OK();
  }
  Status Close() override {
    for (size_t c = 0; c < files_.size(); ++c) {
      FLOWPS_ASSIGN_OR_RETURN(std::string header, NpyHeaderBytes(NpyTypeOf(schema_[c].dtype), Shape(schema_[c], rows_)));
      std::FILE* f = files_[c].get();
      if (std::fseek(f, 0, SEEK_SET) != 0 || std::fwrite(header.data(), 1, header.size(), f) != header.size() ||
          std::fclose(files_[c].release()) != 0)
        return Unavailable(paths_[c] + ": cannot finish writing the file");
    }
    return Status::OK();
  }

 private:
  explicit NpyWriter(Schema schema) : schema_(std::move(schema)) {}
  std::vector<int64_t> Shape(const ColumnSpec& c, int64_t rows) const {
    std::vector<int64_t> s = {rows};
    s.insert(s.end(), c.shape.begin(), c.shape.end());
    return s;
  }
  Schema schema_;
  std::vector<std::unique_ptr<std::FILE, int (*)(std::FILE*)>> files_;
  std::vector<std::string> paths_;
  int64_t rows_ = 0;
};

}  // namespace

StatusOr<std::unique_ptr<ExampleWriter>> OpenWriter(DataFormat format, const std::string& path, const Schema& schema) {
  const Layout l = LayoutOf(schema);
  const std::string have = " (the data has " + DescribeSchema(schema) + ")";
  switch (format) {
    case DataFormat::kCsv: {
      if (l.label < 0 || l.features < 0)
        return InvalidArgument("csv is written from a column label int32 [] and a dense float32 column" + have);
      FLOWPS_ASSIGN_OR_RETURN(TextOut out, TextOut::Open(path));
      return std::unique_ptr<ExampleWriter>(new CsvWriter(std::move(out), l));
    }
    case DataFormat::kLibsvm: {
      if (l.label < 0 || (l.features < 0 && (l.ids < 0 || l.values < 0)))
        return InvalidArgument("libsvm is written from label int32 [] and a dense float32 column or ragged ids and values" + have);
      FLOWPS_ASSIGN_OR_RETURN(TextOut out, TextOut::Open(path));
      return std::unique_ptr<ExampleWriter>(new LibsvmWriter(std::move(out), l));
    }
    case DataFormat::kNpy:
      for (const ColumnSpec& c : schema)
        if (c.ragged()) return InvalidArgument("npy holds dense columns only; '" + c.name + "' is ragged" + have);
      return NpyWriter::Open(path, schema);
    case DataFormat::kIdx:
    case DataFormat::kText: break;
  }
  return InvalidArgument(std::string("flowps writes csv, libsvm and npy, not ") + DataFormatName(format));
}

}  // namespace flowps::data

namespace flowps::data {

StatusOr<int64_t> CopyExamples(const DataSource& source, ExampleWriter* writer, int64_t limit) {
  int64_t n = 0;
  for (size_t f = 0; f < source.files().size() && (limit <= 0 || n < limit); ++f) {
    FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<RecordReader> reader, source.OpenFile(f));
    Example e;
    for (;;) {
      if (limit > 0 && n >= limit) break;
      FLOWPS_ASSIGN_OR_RETURN(bool more, reader->Next(&e));
      if (!more) break;
      FLOWPS_RETURN_IF_ERROR(writer->Write(e));
      ++n;
    }
  }
  FLOWPS_RETURN_IF_ERROR(writer->Close());
  return n;
}

}  // namespace flowps::data

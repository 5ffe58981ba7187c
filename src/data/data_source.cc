#include "data/data_source.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>

namespace flowps::data {
namespace {

namespace fs = std::filesystem;

std::string LabelsFileOf(const std::string& images) {
  std::string labels = images;
  size_t at = labels.rfind("images-idx3");
  if (at != std::string::npos) labels.replace(at, 11, "labels-idx1");
  return labels;
}

// The source files `pattern` names, sorted.
StatusOr<std::vector<std::string>> Expand(const SourceOptions& options, const std::string& pattern) {
  std::vector<std::string> out;
  std::error_code ec;
  if (fs::is_directory(pattern, ec)) {
    bool npy_dir = false;
    for (const auto& e : fs::directory_iterator(pattern, ec)) {
      const std::string name = e.path().filename().string();
      if (name.empty() || name[0] == '.') continue;
      if (options.format == DataFormat::kNpy) {
        if (e.path().extension() == ".npy") npy_dir = true;
        if (e.path().extension() == ".npz" || (e.is_directory() && !npy_dir)) out.push_back(e.path().string());
        continue;
      }
      if (!e.is_regular_file(ec)) continue;
      if (options.format == DataFormat::kIdx && name.find("images-idx3") == std::string::npos) continue;
      out.push_back(e.path().string());
    }
    if (npy_dir) out = {pattern};
  } else if (pattern.find_first_of("*?[") != std::string::npos) {
    glob_t g{};
    if (::glob(pattern.c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
    ::globfree(&g);
  } else if (fs::exists(pattern, ec)) {
    out.push_back(pattern);
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) return NotFound("'" + pattern + "' names no " + DataFormatName(options.format) + " file");
  return out;
}

bool SameColumns(const Schema& a, const Schema& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].name != b[i].name || a[i].dtype != b[i].dtype || a[i].shape != b[i].shape || a[i].offsets != b[i].offsets)
      return false;
  return true;
}

}  // namespace

SourceOptions SourceOptionsOf(const DataSpec& spec) {
  SourceOptions o;
  o.format = spec.format;
  o.label = spec.label;
  o.dense_dim = spec.dense_dim;
  o.sequence_length = spec.sequence_length;
  return o;
}

StatusOr<std::unique_ptr<RecordReader>> OpenReader(const SourceOptions& options, const std::string& file) {
  switch (options.format) {
    case DataFormat::kIdx: return OpenIdxReader(file, LabelsFileOf(file));
    case DataFormat::kCsv: return OpenCsvReader(file, options.label, options.parse_threads);
    case DataFormat::kLibsvm: return OpenLibsvmReader(file, options.dense_dim, options.parse_threads);
    case DataFormat::kNpy: return OpenNpyReader(file);
    case DataFormat::kText: return OpenTextReader(file, options.sequence_length);
  }
  return Internal("unknown data format");
}

StatusOr<DataSource> DataSource::Open(const SourceOptions& options, const std::string& pattern) {
  DataSource s;
  s.options_ = options;
  FLOWPS_ASSIGN_OR_RETURN(s.files_, Expand(options, pattern));
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<RecordReader> first, OpenReader(options, s.files_[0]));
  s.schema_ = first->schema();
  return s;
}

StatusOr<std::unique_ptr<RecordReader>> DataSource::OpenFile(size_t i) const {
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<RecordReader> r, OpenReader(options_, files_.at(i)));
  if (!SameColumns(r->schema(), schema_))
    return InvalidArgument(files_[i] + ":" + (options_.format == DataFormat::kCsv ? "1" : "0") + ": its columns (" +
                           DescribeSchema(r->schema()) + ") differ from those of " + files_[0] + " (" +
                           DescribeSchema(schema_) + ")");
  return r;
}

StatusOr<ShardPlan> PlanShard(size_t num_files, int index, int count) {
  if (count <= 0 || index < 0 || index >= count)
    return InvalidArgument("worker " + std::to_string(index) + " of " + std::to_string(count) + " is not a shard");
  ShardPlan plan;
  if (num_files >= static_cast<size_t>(count)) {
    for (size_t f = static_cast<size_t>(index); f < num_files; f += static_cast<size_t>(count)) plan.files.push_back(f);
    return plan;
  }
  for (size_t f = 0; f < num_files; ++f) plan.files.push_back(f);
  plan.record_stride = count;
  plan.record_offset = index;
  return plan;
}

StatusOr<DataSource> OpenJobSource(const DataSpec& spec, Split split) {
  const SourceOptions options = SourceOptionsOf(spec);
  const bool test = split == Split::kTest;
  if (!spec.train.empty()) {
    if (test && spec.test.empty()) return NotFound(spec.where + ": key 'data.test' is not given");
    return DataSource::Open(options, test ? spec.test : spec.train);
  }
  const std::string images = spec.path + (test ? "/t10k" : "/train") + "-images-idx3-ubyte";
  std::error_code ec;
  return DataSource::Open(options, fs::exists(images + ".gz", ec) ? images + ".gz" : images);
}

}  // namespace flowps::data

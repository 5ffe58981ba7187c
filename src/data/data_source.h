// DataSource: the files of one split (train or test) in one format, and how
// they are shared out among workers.
//
// A source is named by a file, a directory (every regular file in it, sorted
// by name; for npy a directory of .npy files is one source file) or a glob.
// For idx a source file is an images file (*images-idx3-ubyte*), whose labels
// file is the same name with labels-idx1. Every file must have the schema of
// the first; a file that differs is refused when it is opened.
// A value; Open() may be called from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/job_spec.h"
#include "core/status.h"
#include "data/dataset.h"
#include "data/example.h"
#include "data/record_reader.h"

namespace flowps::data {

struct SourceOptions {
  DataFormat format = DataFormat::kIdx;
  std::string label = "label";   // csv: the label column
  int64_t dense_dim = 0;         // libsvm: > 0 for a dense features column
  int64_t sequence_length = 0;   // text: bytes per example (> 0)
  int parse_threads = 0;         // csv, libsvm: threads parsing a file's lines; 0: one per core (at most 8)
};

// The source options of a job's data section.
SourceOptions SourceOptionsOf(const DataSpec& spec);

class DataSource {
 public:
  // Expands `pattern`; NotFound when it names nothing. The schema is read
  // from the first file (its header), so a malformed header fails here.
  static StatusOr<DataSource> Open(const SourceOptions& options, const std::string& pattern);

  const std::vector<std::string>& files() const { return files_; }
  const Schema& schema() const { return schema_; }
  const SourceOptions& options() const { return options_; }
  // A reader of files()[i]; InvalidArgument "file:0:"/"file:1:" when its
  // columns differ from the schema.
  StatusOr<std::unique_ptr<RecordReader>> OpenFile(size_t i) const;

 private:
  SourceOptions options_;
  std::vector<std::string> files_;
  Schema schema_;
};

// Opens one file of a format.
StatusOr<std::unique_ptr<RecordReader>> OpenReader(const SourceOptions& options, const std::string& file);

// Which part of a source worker `index` of `count` reads: with at least
// `count` files, every count-th file from file `index` (all its records);
// with fewer, every file, but only every count-th record from record `index`
// (records numbered across the files in reading order). Either way each
// record belongs to exactly one worker.
struct ShardPlan {
  std::vector<size_t> files;  // indexes into DataSource::files()
  int64_t record_stride = 1;
  int64_t record_offset = 0;
};
StatusOr<ShardPlan> PlanShard(size_t num_files, int index, int count);

}  // namespace flowps::data

namespace flowps::data {

// The train or test source of a job's data section: train/test when given;
// for format idx with data.path, the Fashion-MNIST names in that directory
// (train-* or t10k-*images-idx3-ubyte, gzip'ed or not). The test source is
// NotFound when the section names none.
StatusOr<DataSource> OpenJobSource(const DataSpec& spec, Split split);

}  // namespace flowps::data

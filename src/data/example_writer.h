// ExampleWriter: examples written to a file of one format, for
// `flowps data convert` and the synthetic data of `flowps data synth-ctr`.
//
//   csv     the header "label,f0,f1,..." then one row per example; needs a
//           label column int32 [] and one dense float32 column (flattened).
//   libsvm  "label id:value ..." per line; from label + a dense float32
//           column (its non-zero values, ids counted from 0 in row-major
//           order) or from label + ids + values (ragged).
//   npy     `path` is a directory; one <column>.npy per dense column
//           (float32, int32, int64), row i of each is example i.
// A path ending in .gz is gzip-compressed (csv, libsvm). Close() must be
// called; a writer destroyed without it leaves a partial file. Not thread-safe.
#pragma once

#include <memory>
#include <string>

#include "core/job_spec.h"
#include "core/status.h"
#include "data/example.h"

namespace flowps::data {

class ExampleWriter {
 public:
  virtual ~ExampleWriter() = default;
  virtual Status Write(const Example& e) = 0;
  virtual Status Close() = 0;
};

// InvalidArgument when the schema cannot be written in `format` (idx and
// text are read-only here), naming the columns it would need.
StatusOr<std::unique_ptr<ExampleWriter>> OpenWriter(DataFormat format, const std::string& path, const Schema& schema);

}  // namespace flowps::data

#include "data/data_source.h"

namespace flowps::data {

// Copies the examples of every file of `source`, in order, to `writer`
// (at most `limit` of them when limit > 0) and closes it; the count written.
StatusOr<int64_t> CopyExamples(const DataSource& source, ExampleWriter* writer, int64_t limit);

}  // namespace flowps::data

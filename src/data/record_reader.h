// RecordReader: one file of one format, read record by record in bounded
// memory, and the readers of each format.
//
// Every reader checks each record as it reads it; a malformed one is an
// InvalidArgument "path:line: what is wrong". For the text formats (csv,
// libsvm, text) the line is the file's line; for the binary ones (idx, npy)
// it is the record's number counted from 1, and 0 stands for the header.
// Not thread-safe: one reader per thread.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "data/example.h"

namespace flowps::data {

class RecordReader {
 public:
  virtual ~RecordReader() = default;
  // The columns every Example of this file has.
  virtual const Schema& schema() const = 0;
  // Replaces *out with the next records of the file, in file order (out->size
  // is 0 at the end). On a malformed record, *out holds the records before it
  // and the error is returned.
  virtual Status NextBlock(RecordBlock* out) = 0;
  // Reads the next record into *out (out->columns is resized to the schema);
  // false at the end of the file. Reads blocks underneath.
  StatusOr<bool> Next(Example* out);
  // The records of the file, counted without checking them where the format
  // allows (from the header for idx and npy, by content lines for csv and
  // libsvm); by reading them otherwise. REQUIRES: nothing read yet.
  virtual StatusOr<int64_t> CountRecords();

 private:
  RecordBlock block_;
  int64_t next_ = 0;  // in block_
  Status pending_;    // the error after block_'s records
};

// A reader that reads one record at a time (the binary formats): its blocks
// are made of ReadRecord's records.
class RecordAtATimeReader : public RecordReader {
 public:
  static constexpr int64_t kBlockRecords = 256;
  Status NextBlock(RecordBlock* out) final;

 protected:
  // Reads the next record into *out; false at the end of the file.
  virtual StatusOr<bool> ReadRecord(Example* out) = 0;

 private:
  Example scratch_;
};

// idx: an images file of unsigned bytes (rank >= 2) and its labels file
// (rank 1): columns features float32 [product of the image dims] scaled to
// [0, 1], and label int32 []. gzip or plain.
StatusOr<std::unique_ptr<RecordReader>> OpenIdxReader(const std::string& images_path, const std::string& labels_path);

// csv: a header row naming the columns, then one row per example. The column
// `label` is an integer (label int32 []); every other column is a float and
// they form features float32 [columns - 1], in file order. gzip or plain.
// Empty lines are skipped.
// Lines are parsed in chunks on `threads` threads (0: one per core, at most 8).
StatusOr<std::unique_ptr<RecordReader>> OpenCsvReader(const std::string& path, const std::string& label,
                                                      int threads = 0);

// libsvm: "label id:value id:value ..." per line (a '#' starts a comment).
// The label is an integer. Ids are any int64. With dense_dim == 0 the
// columns are label int32 [], ids (ragged int64) and values (ragged float32),
// sharing the offsets column "offsets"; with dense_dim > 0 they are label and
// features float32 [dense_dim] (every id must be in [0, dense_dim)).
// Parsed on `threads` threads as csv is.
StatusOr<std::unique_ptr<RecordReader>> OpenLibsvmReader(const std::string& path, int64_t dense_dim,
                                                         int threads = 0);

// npy: `path` is a directory of .npy files or an .npz archive of .npy
// entries, stored (np.savez) or deflated (np.savez_compressed: inflated a row
// at a time); each array is a column named after its file
// (features.npy -> features), row i of every array is example i, so all
// arrays need the same first dimension. Memory-mapped. dtypes: float32,
// float64 (read as float32), int8/16/32 and uint8/16 (read as int32), int64.
StatusOr<std::unique_ptr<RecordReader>> OpenNpyReader(const std::string& path);

// text: a UTF-8 file read as byte ids: example k is tokens int32
// [sequence_length] (bytes k*L .. k*L+L-1) and targets int32
// [sequence_length] (the same shifted by one byte); the last bytes that do
// not fill a sequence are dropped. Invalid UTF-8 is an error at its line.
StatusOr<std::unique_ptr<RecordReader>> OpenTextReader(const std::string& path, int64_t sequence_length);

}  // namespace flowps::data

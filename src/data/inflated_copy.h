// InflatedCopy: a gzip'ed input file inflated once per machine, not once per
// epoch and reader.
//
// Every epoch re-reads a worker's files, and with record-stride sharding
// every worker reads every record of a file and keeps its own: a gzip'ed
// file is inflated by each worker in each epoch (for Fashion-MNIST's 26 MB of
// images, 47 MB of zlib inflate per worker per epoch, about 10% of a
// cluster's CPU in training). OpenGz (line_reader.h) therefore reads a
// gzip'ed file of at least kInflateCopyMinBytes from a plain copy kept in
// `cache_dir`, made by the first reader that needs it: the file inflated into
// a temporary name and renamed into place (readers and processes racing to
// make it each write their own, one wins). The copy's name holds a hash of
// the file's absolute path, its size and its modification time, so a changed
// file gets a new copy.
//
// A file that does not inflate cleanly (truncated, corrupt) gets no copy:
// the caller reads the original and reports its error as before. Any failure
// to make the copy (no space, no permission) also falls back to the
// original, silently: the copy only saves time. The copies stay until the
// system clears its temporary folder. Thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace flowps::data {

// Smaller gzip'ed files are inflated as they are read (inflating them costs
// little, and many small files would fill the folder).
constexpr uint64_t kInflateCopyMinBytes = uint64_t{1} << 20;

// The folder OpenGz keeps its copies in: <temporary folder>/flowps-inflated-<uid>.
std::string DefaultInflateCacheDir();

// The path to read `path` from: a plain copy in `cache_dir` when `path` is a
// gzip file of at least `min_bytes` (making the copy if there is none yet),
// and `path` itself otherwise or when no copy can be made.
std::string InflatedCopy(const std::string& path, const std::string& cache_dir, uint64_t min_bytes);

}  // namespace flowps::data

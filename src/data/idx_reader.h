// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.
//
// An IDX file is a big-endian header (two zero bytes, a type code, the number
// of dimensions, then one uint32 per dimension) followed by the values. Only
// unsigned bytes (type 0x08) are read here, which is what (Fashion-)MNIST uses.
// Every check names the file: a wrong magic number, a wrong rank, a body whose
// size does not match the header, a label out of range.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace flowps::data {

// The decoded contents of an unsigned-byte IDX file.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> values;  // row-major, product(dims) bytes
};

// Reads and validates an IDX file of unsigned bytes with `rank` dimensions.
StatusOr<IdxArray> ReadIdxFile(const std::string& path, int rank);

// Images (rank 3) as float32 [n, rows, cols], scaled to [0, 1].
StatusOr<Tensor> ReadIdxImages(const std::string& path);
// Labels (rank 1) as int32 [n]; each must be below num_classes.
StatusOr<Tensor> ReadIdxLabels(const std::string& path, int num_classes);

}  // namespace flowps::data

// The csv or libsvm reader alone: every record of one file parsed on the
// calling thread (no parser threads, no pipeline), as `flowps bench input`
// times it and flowps-input-cost counts its instructions. The csv file's
// label column is "label"; libsvm ids start at 0.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/job_spec.h"
#include "core/status.h"
#include "data/record_reader.h"

namespace flowps {

// The records read; an error of the reader as it reports it.
inline StatusOr<int64_t> DrainReader(DataFormat format, const std::string& path) {
  std::unique_ptr<data::RecordReader> reader;
  if (format == DataFormat::kCsv) {
    FLOWPS_ASSIGN_OR_RETURN(reader, data::OpenCsvReader(path, "label", 1));
  } else {
    FLOWPS_ASSIGN_OR_RETURN(reader, data::OpenLibsvmReader(path, 0, 1));
  }
  data::RecordBlock block;
  int64_t records = 0;
  do {
    FLOWPS_RETURN_IF_ERROR(reader->NextBlock(&block));
    records += block.size;
  } while (block.size > 0);
  return records;
}

}  // namespace flowps

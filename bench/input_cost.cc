// flowps-input-cost: reads one csv or libsvm file through its reader alone
// (one thread, no pipeline) or through the whole pipeline (parser threads,
// shuffle buffer 10000 or SHUFFLE_BUFFER, batches of 64, one epoch) and prints
// the records; `pipeline idx` drains Fashion-MNIST-like IDX files (its memory:
// /usr/bin/time -f %M).
// A driver for instruction counts that the machine's load does not change:
//   valgrind --tool=callgrind build/bench/flowps-input-cost reader csv data.csv
// minus the same run on a file of one record, divided by the records
// (docs/PERFORMANCE.md, input). Not a benchmark of time: `flowps bench input`.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/memory_tuning.h"
#include "data/data_source.h"
#include "data/pipeline.h"
#include "bench/reader_drain.h"

namespace {

using namespace flowps;

StatusOr<int64_t> Drain(const std::string& mode, DataFormat format, const std::string& path, int64_t shuffle) {
  if (mode == "reader") return DrainReader(format, path);
  int64_t records = 0;
  data::SourceOptions options;
  options.format = format;
  FLOWPS_ASSIGN_OR_RETURN(data::DataSource source, data::DataSource::Open(options, path));
  data::PipelineOptions once;
  once.batch_size = 64;
  once.shuffle_buffer = shuffle;
  once.epochs = 1;
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<data::Pipeline> pipe, data::Pipeline::Start(source, once));
  for (;;) {
    StatusOr<data::ColumnBatch> b = pipe->Next();
    if (!b.ok() && b.status().code() == Code::kOutOfRange) return records;
    if (!b.ok()) return b.status();
    records += b->size;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if ((argc != 4 && argc != 5) || (std::strcmp(argv[1], "reader") != 0 && std::strcmp(argv[1], "pipeline") != 0) ||
      (std::strcmp(argv[2], "csv") != 0 && std::strcmp(argv[2], "libsvm") != 0 && std::strcmp(argv[2], "idx") != 0) ||
      (std::strcmp(argv[1], "reader") == 0 && std::strcmp(argv[2], "idx") == 0)) {
    std::fprintf(stderr, "usage: flowps-input-cost reader|pipeline csv|libsvm FILE [SHUFFLE_BUFFER]\n       flowps-input-cost pipeline idx IMAGES_FILE [SHUFFLE_BUFFER]\n");
    return 2;
  }
  flowps::KeepFreedBuffersOffTheHeap();  // as a worker's main does (its memory is what the pipeline costs a worker)
  const flowps::DataFormat format = std::strcmp(argv[2], "csv") == 0      ? flowps::DataFormat::kCsv
                                    : std::strcmp(argv[2], "libsvm") == 0 ? flowps::DataFormat::kLibsvm
                                                                          : flowps::DataFormat::kIdx;
  flowps::StatusOr<int64_t> records = Drain(argv[1], format, argv[3], argc == 5 ? std::atoll(argv[4]) : 10000);
  if (!records.ok()) {
    std::fprintf(stderr, "flowps-input-cost: %s\n", records.status().ToString().c_str());
    return 1;
  }
  std::printf("%lld records\n", static_cast<long long>(*records));
  return 0;
}

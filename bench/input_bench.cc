#include "bench/input_bench.h"
#include "bench/reader_drain.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "data/data_source.h"
#include "data/example_writer.h"
#include "data/parse_number.h"
#include "data/simd_fields.h"
#include "data/pipeline.h"
#include "worker/local_model.h"

namespace flowps {
namespace {

namespace fs = std::filesystem;

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
// CPU seconds of the whole process (every thread): on a shared machine the
// rates per CPU second say what the code costs, whatever else runs.
double CpuNow() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

struct Rate {
  double per_sec = 0, per_cpu_sec = 0;
};

// Bytes of every file under `path` (a file or a directory).
std::vector<std::string> FilesOf(const std::string& path) {
  std::vector<std::string> out;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::recursive_directory_iterator(path))
      if (e.is_regular_file()) out.push_back(e.path().string());
  } else {
    out.push_back(path);
  }
  return out;
}

// Reads the files as cat does; the bytes read.
StatusOr<int64_t> CatFiles(const std::vector<std::string>& files) {
  std::vector<char> block(size_t{1} << 20);
  int64_t total = 0;
  for (const std::string& f : files) {
    int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NotFound(f + ": cannot open");
    for (ssize_t n; (n = ::read(fd, block.data(), block.size())) > 0;) total += n;
    ::close(fd);
  }
  return total;
}

// Writes plain (uncompressed) copies of gzip'ed files.
Status Gunzip(const std::string& from, const std::string& to) {
  gzFile in = gzopen(from.c_str(), "rb");
  if (in == nullptr) return NotFound(from + ": cannot open");
  std::FILE* out = std::fopen(to.c_str(), "wb");
  std::vector<char> buf(1 << 20);
  for (int n; (n = gzread(in, buf.data(), static_cast<unsigned>(buf.size()))) > 0;) std::fwrite(buf.data(), 1, static_cast<size_t>(n), out);
  gzclose(in);
  return std::fclose(out) == 0 ? Status::OK() : Unavailable(to + ": cannot write");
}

// The examples/s of the MLP 784-256-10 step at batch 64 (median of 50 steps),
// and per CPU second over those 50 steps.
StatusOr<Rate> MlpStepRate(ThreadPool* pool) {
  ModelSpec spec;
  OptimizerConfig sgd;
  sgd.learning_rate = 0.01;
  FLOWPS_ASSIGN_OR_RETURN(auto model, LocalModel::Create(spec, sgd, pool));
  Tensor images = Tensor::Zeros(DType::kFloat32, Shape{64, kImageFeatures});
  Tensor labels = Tensor::Zeros(DType::kInt32, Shape{64});
  std::vector<double> sec;
  double cpu0 = 0;
  for (int i = 0; i < 60; ++i) {
    if (i == 10) cpu0 = CpuNow();
    double t0 = Now();
    FLOWPS_RETURN_IF_ERROR(model->Step(images, labels).status());
    if (i >= 10) sec.push_back(Now() - t0);
  }
  const double cpu = CpuNow() - cpu0;
  std::sort(sec.begin(), sec.end());
  return Rate{64.0 / sec[sec.size() / 2], 64.0 * 50 / cpu};
}

// The csv or libsvm reader alone, parsing on the calling thread (no parser
// threads, no pipeline): records per CPU second and MB of text per CPU second.
StatusOr<std::pair<double, double>> ParseOnlyRate(DataFormat format, const std::string& path, int64_t bytes) {
  const double cpu0 = CpuNow();
  FLOWPS_ASSIGN_OR_RETURN(const int64_t records, DrainReader(format, path));
  const double cpu = CpuNow() - cpu0;
  return std::make_pair(static_cast<double>(records) / cpu, static_cast<double>(bytes) / 1e6 / cpu);
}

// CPU ns per field of a csv file's text (in memory, header skipped), parsed
// as the csv reader parses it (the line's ',' found 64 bytes at a time by
// FieldSplitter, then the fields by ParseFloatBatches: runs of lone digits
// and fields four at a time) and field by field by
// the one-number parser ParseNumberAt (the checked path, what every field
// cost before): the best of 3 passes each. Fails if they read different floats.
StatusOr<std::pair<double, double>> FieldParseNs(const std::string& path) {
  std::string text;
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return NotFound(path + ": cannot open");
    std::vector<char> block(size_t{1} << 20);
    for (size_t n; (n = std::fread(block.data(), 1, block.size(), f)) > 0;) text.append(block.data(), n);
    std::fclose(f);
  }
  text.erase(0, text.find('\n') + 1);
  const size_t size = text.size();
  text.append(64, '\0');  // readable past the last line, as a chunk's padding
  const char* text_end = text.data() + size;
  // The fields of a row (the header's), as the csv reader stores them.
  std::vector<float> values(static_cast<size_t>(std::count(text.data(), text.data() + text.find('\n'), ',')) + 1);
  auto pass = [&](bool split, double* checksum) -> StatusOr<double> {
    int64_t fields = 0;
    double sum = 0;
    const double cpu0 = CpuNow();
    for (const char* line = text.data(); line < text_end;) {
      const char* nl = static_cast<const char*>(std::memchr(line, '\n', static_cast<size_t>(text_end - line)));
      const char* end = nl != nullptr ? nl : text_end;
      if (split) {
        data::FieldSplitter<','> fields_of(line, end);
        size_t left = values.size();
        const char* p = line;
        float* out = values.data();
        if (!data::ParseFloatBatches(fields_of, end, &left, &p, &out))
          return InvalidArgument(path + ": not a csv number");
        for (const char* e; (e = fields_of.Next()) != nullptr; p = e + 1) {
          if (!data::ParseFieldExact(p, e, out++)) return InvalidArgument(path + ": not a csv number");
        }
        for (float* v = values.data(); v < out; ++v) sum += *v;
        fields += out - values.data();
      } else {
        for (const char* p = line;; ++fields) {
          float v = 0;
          const char* next = data::ParseNumberAt(p, end, &v);
          if (next == nullptr || (next < end && *next != ',')) return InvalidArgument(path + ": not a csv number");
          sum += v;
          if (next == end) break;
          p = next + 1;
        }
        ++fields;
      }
      line = end + 1;
    }
    const double cpu = CpuNow() - cpu0;
    *checksum = sum;
    return cpu * 1e9 / static_cast<double>(fields);
  };
  double best_fast = 1e30, best_slow = 1e30, sum_fast = 0, sum_slow = 0;
  for (int i = 0; i < 3; ++i) {
    FLOWPS_ASSIGN_OR_RETURN(double fast, pass(true, &sum_fast));
    FLOWPS_ASSIGN_OR_RETURN(double slow, pass(false, &sum_slow));
    best_fast = std::min(best_fast, fast);
    best_slow = std::min(best_slow, slow);
  }
  if (sum_fast != sum_slow) return Internal(path + ": the csv reader's field parser read other values than ParseNumberAt");
  return std::make_pair(best_fast, best_slow);
}

struct Prepared {
  data::SourceOptions options;
  std::string path;
};

// Writes the benchmark's copy of the data in `format` under dir.
StatusOr<Prepared> Prepare(const std::string& format, const std::string& dir, int64_t examples) {
  const std::string fashion = "/usr/share/datasets/fashion-mnist/train-";
  Prepared p;
  if (format == "idx") {
    p.options.format = DataFormat::kIdx;
    p.path = dir + "/idx-images-idx3-ubyte";
    if (!fs::exists(p.path)) {
      FLOWPS_RETURN_IF_ERROR(Gunzip(fashion + "images-idx3-ubyte.gz", p.path));
      FLOWPS_RETURN_IF_ERROR(Gunzip(fashion + "labels-idx1-ubyte.gz", dir + "/idx-labels-idx1-ubyte"));
    }
    return p;
  }
  data::SourceOptions idx;
  FLOWPS_ASSIGN_OR_RETURN(data::DataSource source, data::DataSource::Open(idx, fashion + "images-idx3-ubyte.gz"));
  auto write = [&](DataFormat f, const std::string& path) -> Status {
    if (fs::exists(path)) return Status::OK();
    FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<data::ExampleWriter> w, data::OpenWriter(f, path, source.schema()));
    return data::CopyExamples(source, w.get(), examples).status();
  };
  if (format == "csv" || format == "text") {
    p.path = dir + "/data.csv";
    FLOWPS_RETURN_IF_ERROR(write(DataFormat::kCsv, p.path));
    p.options.format = format == "csv" ? DataFormat::kCsv : DataFormat::kText;
    p.options.sequence_length = 256;
  } else if (format == "libsvm") {
    p.path = dir + "/data.libsvm";
    FLOWPS_RETURN_IF_ERROR(write(DataFormat::kLibsvm, p.path));
    p.options.format = DataFormat::kLibsvm;
  } else if (format == "npy") {
    p.path = dir + "/npy";
    FLOWPS_RETURN_IF_ERROR(write(DataFormat::kNpy, p.path));
    p.options.format = DataFormat::kNpy;
  } else {
    return InvalidArgument("bench input: unknown format '" + format + "' (idx, csv, libsvm, npy, text)");
  }
  return p;
}

Status RunInputBenchmark(BenchContext& ctx) {
  int64_t examples = 20000;
  std::string formats = "idx,csv,libsvm,npy,text";
  std::string dir = (fs::temp_directory_path() / ("flowps_bench_input_" + std::to_string(::getpid()))).string();
  for (const auto& [key, value] : ctx.options) {
    if (key == "examples") examples = std::atoll(value.c_str());
    else if (key == "formats") formats = value;
    else if (key == "dir") dir = value + "/flowps_bench_input_" + std::to_string(::getpid());
    else return InvalidArgument("bench input: unknown option '" + key + "' (examples, formats, dir)");
  }
  if (examples <= 0) return InvalidArgument("bench input: examples must be positive");
  fs::create_directories(dir);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { fs::remove_all(dir); }
  } cleanup{dir};

  FLOWPS_ASSIGN_OR_RETURN(Rate step, MlpStepRate(ctx.pool));
  ctx.emit({"mlp_step_b64_examples_per_sec", step.per_sec, "examples/s", std::nullopt, std::nullopt});
  ctx.emit({"mlp_step_b64_examples_per_cpu_sec", step.per_cpu_sec, "examples/CPU-s", std::nullopt, std::nullopt});
  std::stringstream list(formats);
  for (std::string format; std::getline(list, format, ',');) {
    if (ctx.progress) ctx.progress("preparing " + format);
    FLOWPS_ASSIGN_OR_RETURN(Prepared p, Prepare(format, dir, examples));
    std::vector<std::string> files = FilesOf(p.path);
    if (p.options.format == DataFormat::kIdx) files.push_back(dir + "/idx-labels-idx1-ubyte");
    FLOWPS_RETURN_IF_ERROR(CatFiles(files).status());  // warm the page cache
    double t0 = Now();
    FLOWPS_ASSIGN_OR_RETURN(int64_t bytes, CatFiles(files));
    const double raw_sec = Now() - t0;

    FLOWPS_ASSIGN_OR_RETURN(data::DataSource source, data::DataSource::Open(p.options, p.path));
    data::PipelineOptions once;
    once.batch_size = 64;
    once.shuffle_buffer = 10000;
    once.epochs = 1;
    t0 = Now();
    const double cpu0 = CpuNow();
    FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<data::Pipeline> pipe, data::Pipeline::Start(source, once));
    int64_t records = 0;
    for (;;) {
      StatusOr<data::ColumnBatch> b = pipe->Next();
      if (!b.ok() && b.status().code() == Code::kOutOfRange) break;
      if (!b.ok()) return b.status();
      records += b->size;
    }
    const double sec = Now() - t0, cpu = CpuNow() - cpu0;
    const double mb = static_cast<double>(bytes) / 1e6;
    ctx.emit({"input_" + format + "_records_per_sec", static_cast<double>(records) / sec, "records/s",
              "mlp_step_b64_examples_per_sec", step.per_sec});
    ctx.emit({"input_" + format + "_records_per_cpu_sec", static_cast<double>(records) / cpu, "records/CPU-s",
              "mlp_step_b64_examples_per_cpu_sec", step.per_cpu_sec});
    ctx.emit({"input_" + format + "_mb_per_sec", mb / sec, "MB/s", "raw_read_" + format + "_mb_per_sec", mb / raw_sec});
    if (format == "csv") {
      FLOWPS_ASSIGN_OR_RETURN(auto ns, FieldParseNs(p.path));
      ctx.emit({"input_csv_field_parse_cpu_ns", ns.first, "ns/field", "input_csv_field_parse_number_at_cpu_ns",
                ns.second});
    }
    if (format == "csv" || format == "libsvm") {
      FLOWPS_ASSIGN_OR_RETURN(auto parse, ParseOnlyRate(p.options.format, p.path, bytes));
      ctx.emit({"input_" + format + "_reader_1thread_records_per_cpu_sec", parse.first, "records/CPU-s",
                "mlp_step_b64_examples_per_cpu_sec", step.per_cpu_sec});
      ctx.emit({"input_" + format + "_reader_1thread_mb_per_cpu_sec", parse.second, "MB/CPU-s",
                "raw_read_" + format + "_mb_per_sec", mb / raw_sec});
    }
  }
  return Status::OK();
}

}  // namespace

Benchmark MakeInputBenchmark() {
  return {"input",
          "input pipeline records/s and MB/s per format (idx, csv, libsvm, npy, text) beside raw read(2) of the "
          "same bytes and the MLP step's examples/s",
          RunInputBenchmark};
}

}  // namespace flowps

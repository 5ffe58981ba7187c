#include <catch2/catch.hpp>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

#include "data/data_source.h"
#include "data/npy_format.h"
#include "data/parse_number.h"
#include "data/pipeline.h"
#include "data/record_reader.h"
#include "idx_files.h"

using namespace flowps;
using namespace flowps::data;

namespace {

// Every example of a reader.
std::vector<Example> ReadAll(RecordReader& r) {
  std::vector<Example> out;
  for (;;) {
    Example e;
    auto more = r.Next(&e);
    REQUIRE(more.ok());
    if (!*more) return out;
    out.push_back(std::move(e));
  }
}

// The first error a reader gives, reading to the end.
std::string FirstError(StatusOr<std::unique_ptr<RecordReader>> opened) {
  if (!opened.ok()) return opened.status().message();
  for (;;) {
    Example e;
    auto more = (*opened)->Next(&e);
    if (!more.ok()) return more.status().message();
    if (!*more) return "";
  }
}

template <typename T>
std::vector<T> Col(const Example& e, size_t c) {
  return std::vector<T>(e.Values<T>(c), e.Values<T>(c) + e.Count<T>(c));
}

std::string NpyBytes(NpyType type, std::vector<int64_t> shape, const void* data, size_t bytes) {
  auto header = NpyHeaderBytes(type, shape);
  REQUIRE(header.ok());
  return *header + std::string(static_cast<const char*>(data), bytes);
}

}  // namespace

TEST_CASE("csv: the header names the label column; the others are float features in file order") {
  testing::IdxDir dir;
  for (bool gzip : {false, true}) {
    std::string p = dir.WriteText(gzip ? "a.csv.gz" : "a.csv", "a,label,b\n1.5,3,-2\n\n0, 7 ,1e3\r\n", gzip);
    auto r = OpenCsvReader(p, "label");
    REQUIRE(r.ok());
    CHECK(DescribeSchema((*r)->schema()) == "features float32 [2], label int32 []");
    auto all = ReadAll(**r);
    REQUIRE(all.size() == 2);
    CHECK(Col<float>(all[0], 0) == std::vector<float>{1.5f, -2.f});
    CHECK(Col<int32_t>(all[0], 1) == std::vector<int32_t>{3});
    CHECK(Col<float>(all[1], 0) == std::vector<float>{0.f, 1000.f});
    CHECK(Col<int32_t>(all[1], 1) == std::vector<int32_t>{7});
  }
}

TEST_CASE("a malformed csv row is refused at its file and line") {
  testing::IdxDir dir;
  CHECK(FirstError(OpenCsvReader(dir.WriteText("x.csv", "a,label\n1,2\n1,x\n"), "label")) ==
        dir.path("x.csv") + ":3: label column 'label' holds 'x', not an integer");
  CHECK(FirstError(OpenCsvReader(dir.WriteText("x.csv", "a,label\n1,2\nz,2\n"), "label")) ==
        dir.path("x.csv") + ":3: column 'a' holds 'z', not a number");
  CHECK(FirstError(OpenCsvReader(dir.WriteText("x.csv", "a,label\n1,2,3\n"), "label")) ==
        dir.path("x.csv") + ":2: more than the header's 2 fields");
  CHECK(FirstError(OpenCsvReader(dir.WriteText("x.csv", "a,b,label\n1,2\n"), "label")) ==
        dir.path("x.csv") + ":2: 2 fields, but the header has 3");
  CHECK(FirstError(OpenCsvReader(dir.WriteText("x.csv", "a,b\n1,2\n"), "label")) ==
        dir.path("x.csv") + ":1: the header has no label column 'label' (data.label)");
}

TEST_CASE("libsvm: arbitrary int64 ids, ragged ids and values, or a dense view") {
  testing::IdxDir dir;
  std::string p = dir.WriteText("a.svm.gz", "1 9000000000:0.5 3:2\n# a comment line\n0\n-1 7:1 # tail\n", true);
  auto r = OpenLibsvmReader(p, 0);
  REQUIRE(r.ok());
  auto all = ReadAll(**r);
  REQUIRE(all.size() == 3);
  CHECK(Col<int32_t>(all[0], 0) == std::vector<int32_t>{1});
  CHECK(Col<int64_t>(all[0], 1) == std::vector<int64_t>{9000000000, 3});
  CHECK(Col<float>(all[0], 2) == std::vector<float>{0.5f, 2.f});
  CHECK(Col<int64_t>(all[1], 1).empty());
  CHECK(Col<int32_t>(all[2], 0) == std::vector<int32_t>{-1});

  auto batch = MakeBatch((*r)->schema(), all, 0);
  REQUIRE(batch.ok());
  CHECK(batch->columns.at("offsets").ToVector<int64_t>() == std::vector<int64_t>{0, 2, 2, 3});
  CHECK(batch->columns.at("ids").ToVector<int64_t>() == std::vector<int64_t>{9000000000, 3, 7});
  CHECK(batch->columns.at("values").ToVector<float>() == std::vector<float>{0.5f, 2.f, 1.f});
  CHECK(batch->columns.at("label").ToVector<int32_t>() == std::vector<int32_t>{1, 0, -1});

  auto dense = OpenLibsvmReader(dir.WriteText("d.svm", "2 0:1 3:0.25\n"), 4);
  REQUIRE(dense.ok());
  auto d = ReadAll(**dense);
  REQUIRE(d.size() == 1);
  CHECK(Col<float>(d[0], 0) == std::vector<float>{1.f, 0.f, 0.f, 0.25f});
}

TEST_CASE("a malformed libsvm line is refused at its file and line") {
  testing::IdxDir dir;
  std::string p = dir.path("b.svm");
  CHECK(FirstError(OpenLibsvmReader(dir.WriteText("b.svm", "1 2:1\n1 2:1 3\n"), 0)) == p + ":2: '3' is not id:value");
  CHECK(FirstError(OpenLibsvmReader(dir.WriteText("b.svm", "x 2:1\n"), 0)) == p + ":1: label 'x' is not an integer");
  CHECK(FirstError(OpenLibsvmReader(dir.WriteText("b.svm", "1 a:1\n"), 0)) == p + ":1: id 'a' is not an int64");
  CHECK(FirstError(OpenLibsvmReader(dir.WriteText("b.svm", "1 2:one\n"), 0)) ==
        p + ":1: value 'one' of id 2 is not a number");
  CHECK(FirstError(OpenLibsvmReader(dir.WriteText("b.svm", "1 2:1\n\n0 4:1\n"), 4)) ==
        p + ":3: id 4 is outside [0, 4) (data.dense_dim)");
}

TEST_CASE("csv and libsvm files of many chunks read the same on 1 and 4 parser threads, errors at the right line") {
  testing::IdxDir dir;
  // About 3.5 MB: several 1 MiB chunks, lines cut anywhere by them.
  std::string csv = "x,label,y\n", svm;
  for (int k = 0; k < 150000; ++k) {
    csv += std::to_string(k) + "," + std::to_string(k % 10) + "," + std::to_string(k * 0.001) + "\n";
    svm += std::to_string(k % 10) + " " + std::to_string(k) + ":" + std::to_string(k * 0.5) + (k % 3 ? " 7:1\n" : "\n");
    if (k % 1000 == 0) csv += "\n", svm += "# a comment\n";
  }
  for (bool gzip : {false, true}) {
    const std::string c = dir.WriteText(gzip ? "many.csv.gz" : "many.csv", csv, gzip);
    const std::string l = dir.WriteText(gzip ? "many.svm.gz" : "many.svm", svm, gzip);
    auto c1 = OpenCsvReader(c, "label", 1), c4 = OpenCsvReader(c, "label", 4);
    auto l1 = OpenLibsvmReader(l, 0, 1), l4 = OpenLibsvmReader(l, 0, 4);
    REQUIRE((c1.ok() && c4.ok() && l1.ok() && l4.ok()));
    std::vector<Example> one = ReadAll(**c1), four = ReadAll(**c4);
    REQUIRE(one.size() == 150000);
    REQUIRE(four.size() == 150000);
    bool same = true;
    for (size_t k = 0; k < one.size(); ++k) same = same && one[k].columns == four[k].columns;
    CHECK(same);
    CHECK(Col<float>(four[123456], 0) == std::vector<float>{123456.f, std::strtof(std::to_string(123.456).c_str(), nullptr)});
    one = ReadAll(**l1);
    four = ReadAll(**l4);
    REQUIRE(four.size() == 150000);
    same = one.size() == four.size();
    for (size_t k = 0; same && k < one.size(); ++k) same = one[k].columns == four[k].columns;
    CHECK(same);
    CHECK(Col<int64_t>(four[149997], 1) == std::vector<int64_t>{149997});
    // Counted without parsing: content lines, not the empty or comment ones.
    CHECK((*OpenCsvReader(c, "label"))->CountRecords().value() == 150000);
    CHECK((*OpenLibsvmReader(l, 0))->CountRecords().value() == 150000);
    CHECK(Col<int64_t>(four[149998], 1) == std::vector<int64_t>{149998, 7});
  }
  // A bad line deep in the file: the records before it, then its line (each
  // thousandth row is followed by an empty line, counted too).
  std::string bad = csv;
  const size_t at = bad.find("\n140000,");
  bad.replace(at, 8, "\n140000x");
  const std::string b = dir.WriteText("bad.csv", bad);
  for (int threads : {1, 4}) {
    auto r = OpenCsvReader(b, "label", threads);
    REQUIRE(r.ok());
    int64_t records = 0;
    RecordBlock block;
    Status s;
    for (;;) {
      s = (*r)->NextBlock(&block);
      records += block.size;
      if (!s.ok() || block.size == 0) break;
    }
    CHECK(records == 140000);
    CHECK(s.message() == b + ":140142: column 'x' holds '140000x0', not a number");
  }
}

TEST_CASE("idx streams features and labels, and a truncated file names the record") {
  testing::IdxDir dir;
  dir.WriteFashionLike("train", 5);
  auto r = OpenIdxReader(dir.path("train-images-idx3-ubyte.gz"), dir.path("train-labels-idx1-ubyte.gz"));
  REQUIRE(r.ok());
  CHECK(DescribeSchema((*r)->schema()) == "features float32 [784], label int32 []");
  auto all = ReadAll(**r);
  REQUIRE(all.size() == 5);
  CHECK(all[3].Values<float>(0)[100] == Approx(3.f / 255.f));
  CHECK(Col<int32_t>(all[4], 1) == std::vector<int32_t>{4});
  CHECK((*OpenIdxReader(dir.path("train-images-idx3-ubyte.gz"), dir.path("train-labels-idx1-ubyte.gz")))
            ->CountRecords()
            .value() == 5);  // from the header

  dir.Write("short-images-idx3-ubyte", 0x08, {3, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, false);
  dir.Write("short-labels-idx1-ubyte", 0x08, {3}, {1, 2, 3}, false);
  CHECK(FirstError(OpenIdxReader(dir.path("short-images-idx3-ubyte"), dir.path("short-labels-idx1-ubyte"))) ==
        dir.path("short-images-idx3-ubyte") + ":3: the file ends in record 3 of the 3 its header promises");
  dir.Write("bad-images-idx3-ubyte", 0x09, {1, 1, 1}, {1}, false);
  CHECK(FirstError(OpenIdxReader(dir.path("bad-images-idx3-ubyte"), dir.path("short-labels-idx1-ubyte"))) ==
        dir.path("bad-images-idx3-ubyte") +
            ":0: bad magic number 0x00000903: not an IDX file of unsigned bytes with 2 or more dimensions (images)");
}

TEST_CASE("npy: a directory of arrays and a stored npz are memory-mapped columns") {
  testing::IdxDir dir;
  std::filesystem::create_directories(dir.path("arrays"));
  const float features[6] = {1, 2, 3, 4, 5, 6};
  const int64_t labels[3] = {7, 8, 9};
  dir.WriteText("arrays/features.npy", NpyBytes(NpyType::kFloat32, {3, 2}, features, sizeof features));
  dir.WriteText("arrays/label.npy", NpyBytes(NpyType::kInt64, {3}, labels, sizeof labels));
  auto r = OpenNpyReader(dir.path("arrays"));
  REQUIRE(r.ok());
  CHECK(DescribeSchema((*r)->schema()) == "features float32 [2], label int64 []");
  auto all = ReadAll(**r);
  REQUIRE(all.size() == 3);
  CHECK(Col<float>(all[2], 0) == std::vector<float>{5, 6});
  CHECK(Col<int64_t>(all[1], 1) == std::vector<int64_t>{8});

  // The archive numpy's np.savez writes for {"x": float64 [2], "y": uint8 [2]}: stored entries.
  const double x[2] = {0.5, -1};
  const uint8_t y[2] = {3, 250};
  std::string zip, central;
  int entries = 0;
  auto le = [](std::string* s, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
  };
  for (auto [name, body] : {std::pair<std::string, std::string>{"x.npy", NpyBytes(NpyType::kFloat64, {2}, x, sizeof x)},
                            {"y.npy", NpyBytes(NpyType::kUInt8, {2}, y, sizeof y)}}) {
    const size_t local = zip.size();
    le(&zip, 0x04034b50, 4), le(&zip, 20, 2), le(&zip, 0, 2), le(&zip, 0, 2), le(&zip, 0, 4), le(&zip, 0, 4);
    le(&zip, body.size(), 4), le(&zip, body.size(), 4), le(&zip, name.size(), 2), le(&zip, 0, 2);
    zip += name + body;
    le(&central, 0x02014b50, 4), le(&central, 20, 2), le(&central, 20, 2), le(&central, 0, 2), le(&central, 0, 2);
    le(&central, 0, 4), le(&central, 0, 4), le(&central, body.size(), 4), le(&central, body.size(), 4);
    le(&central, name.size(), 2), le(&central, 0, 2), le(&central, 0, 2), le(&central, 0, 2), le(&central, 0, 2);
    le(&central, 0, 4), le(&central, local, 4);
    central += name;
    ++entries;
  }
  const size_t cd = zip.size();
  zip += central;
  le(&zip, 0x06054b50, 4), le(&zip, 0, 2), le(&zip, 0, 2), le(&zip, entries, 2), le(&zip, entries, 2);
  le(&zip, central.size(), 4), le(&zip, cd, 4), le(&zip, 0, 2);
  auto z = OpenNpyReader(dir.WriteText("a.npz", zip));
  REQUIRE(z.ok());
  CHECK(DescribeSchema((*z)->schema()) == "x float32 [], y int32 []");
  auto zs = ReadAll(**z);
  REQUIRE(zs.size() == 2);
  CHECK(Col<float>(zs[0], 0) == std::vector<float>{0.5f});
  CHECK(Col<int32_t>(zs[1], 1) == std::vector<int32_t>{250});
}

TEST_CASE("an npz of numpy's np.savez_compressed is read row by row through zlib, and corruption names the row") {
  testing::IdxDir dir;
  const std::string npz = dir.path("c.npz");
  // 20000 rows: the deflated entries span many zlib blocks.
  const std::string script =
      "import numpy as np; n = 20000; "
      "np.savez_compressed('" + npz + "', features=(np.arange(n * 3, dtype=np.float32) / 7).reshape(n, 3), "
      "label=np.arange(n, dtype=np.int64) % 10, weight=np.linspace(0, 1, n))";
  REQUIRE(std::system(("/usr/bin/python3 -c \"" + script + "\"").c_str()) == 0);
  auto r = OpenNpyReader(npz);
  REQUIRE(r.ok());
  CHECK(DescribeSchema((*r)->schema()) == "features float32 [3], label int64 [], weight float32 []");
  CHECK((*OpenNpyReader(npz))->CountRecords().value() == 20000);  // from the header
  auto all = ReadAll(**r);
  REQUIRE(all.size() == 20000);
  bool same = true;
  for (int k = 0; k < 20000; ++k) {
    const std::vector<float> want = {static_cast<float>(3 * k) / 7, static_cast<float>(3 * k + 1) / 7,
                                     static_cast<float>(3 * k + 2) / 7};
    same = same && Col<float>(all[static_cast<size_t>(k)], 0) == want &&
           Col<int64_t>(all[static_cast<size_t>(k)], 1) == std::vector<int64_t>{k % 10} &&
           Col<float>(all[static_cast<size_t>(k)], 2)[0] == static_cast<float>(k / 19999.0);
  }
  CHECK(same);

  // Garbage over the middle of the features entry: an error at a row, never a crash.
  std::ifstream in(npz, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = bytes.find("features.npy") + 30000;
  for (size_t i = 0; i < 64; ++i) bytes[at + i] = static_cast<char>(0xff);
  const std::string error = FirstError(OpenNpyReader(dir.WriteText("broken.npz", bytes)));
  CHECK_THAT(error, Catch::StartsWith(dir.path("broken.npz") + "/features.npy:") &&
                        Catch::Contains(": the compressed entry is corrupt"));
}

TEST_CASE("a malformed npy array is refused at its file") {
  testing::IdxDir dir;
  std::filesystem::create_directories(dir.path("bad"));
  const float f[4] = {1, 2, 3, 4};
  dir.WriteText("bad/features.npy", NpyBytes(NpyType::kFloat32, {3, 2}, f, sizeof f));
  CHECK(FirstError(OpenNpyReader(dir.path("bad"))) ==
        dir.path("bad/features.npy") + ":0: the header promises 24 bytes of data but the file holds 16");
  dir.WriteText("bad/features.npy", "not numpy at all");
  CHECK(FirstError(OpenNpyReader(dir.path("bad"))) == dir.path("bad/features.npy") + ":0: not an .npy file (bad magic)");
  std::string fortran = NpyBytes(NpyType::kFloat32, {2, 2}, f, sizeof f);
  fortran.replace(fortran.find("False"), 5, "True ");
  dir.WriteText("bad/features.npy", fortran);
  CHECK(FirstError(OpenNpyReader(dir.path("bad"))) ==
        dir.path("bad/features.npy") + ":0: a Fortran-order array is not read (save it C-contiguous)");
}

TEST_CASE("text: byte ids in sequences with next-byte targets; invalid UTF-8 names its line") {
  testing::IdxDir dir;
  auto r = OpenTextReader(dir.WriteText("t.txt", "ab\ncdé!"), 3);  // é is two bytes: 8 bytes in all
  REQUIRE(r.ok());
  auto all = ReadAll(**r);
  REQUIRE(all.size() == 2);
  CHECK(Col<int32_t>(all[0], 0) == std::vector<int32_t>{'a', 'b', '\n'});
  CHECK(Col<int32_t>(all[0], 1) == std::vector<int32_t>{'b', '\n', 'c'});
  CHECK(Col<int32_t>(all[1], 0) == std::vector<int32_t>{'c', 'd', 0xC3});
  CHECK(Col<int32_t>(all[1], 1) == std::vector<int32_t>{'d', 0xC3, 0xA9});
  CHECK(FirstError(OpenTextReader(dir.WriteText("u.txt", "fine\nfine\nbad \xff here\n"), 2)) ==
        dir.path("u.txt") + ":3: invalid UTF-8: byte 0xff: it cannot start a character");
}

TEST_CASE("a file whose columns differ from the first file's is refused") {
  testing::IdxDir dir;
  std::filesystem::create_directories(dir.path("csvs"));
  dir.WriteText("csvs/a.csv", "x,label\n1,1\n");
  dir.WriteText("csvs/b.csv", "x,y,label\n1,2,1\n");
  SourceOptions csv;
  csv.format = DataFormat::kCsv;
  auto source = DataSource::Open(csv, dir.path("csvs"));
  REQUIRE(source.ok());
  CHECK(source->files().size() == 2);
  auto second = source->OpenFile(1);
  REQUIRE(!second.ok());
  CHECK(second.status().message() == dir.path("csvs/b.csv") +
                                         ":1: its columns (features float32 [2], label int32 []) differ from those of " +
                                         dir.path("csvs/a.csv") + " (features float32 [1], label int32 [])");
  CHECK(DataSource::Open(csv, dir.path("csvs/*.tsv")).status().message() ==
        "'" + dir.path("csvs/*.tsv") + "' names no csv file");
}

namespace {

// A valid number in one of the forms the fast paths take or leave.
std::string RandomNumber(std::mt19937_64& rng) {
  std::string s;
  auto digits = [&](int n) {
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>('0' + rng() % 10));
  };
  switch (rng() % 8) {
    case 0: digits(1); break;
    case 1: digits(1 + static_cast<int>(rng() % 7)); break;  // leading zeros too
    case 2: s = "-"; digits(1 + static_cast<int>(rng() % 8)); break;
    case 3: digits(8 + static_cast<int>(rng() % 11)); break;
    case 4: digits(1); s.push_back('.'); digits(1 + static_cast<int>(rng() % 10)); break;
    case 5: digits(2); s.append(".5e"); s.append(std::to_string(static_cast<int>(rng() % 20) - 10)); break;
    case 6: s = "+"; digits(3); break;
    default: s = "16777217"; break;  // halfway between two floats
  }
  return s;
}

uint32_t FloatBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

}  // namespace

TEST_CASE("csv values and libsvm ids and values read as the one-number parser reads them, whatever their form") {
  testing::IdxDir dir;
  std::mt19937_64 rng(5);
  constexpr int kFeatures = 40, kRows = 400;
  std::string csv = "label";
  for (int i = 0; i < kFeatures; ++i) csv += ",f" + std::to_string(i);
  csv += "\n";
  std::vector<float> want_csv;
  std::string svm;
  std::vector<int64_t> want_ids;
  std::vector<float> want_values;
  for (int r = 0; r < kRows; ++r) {
    csv += std::to_string(r % 10);
    svm += std::to_string(r % 10);
    for (int i = 0; i < kFeatures; ++i) {
      const std::string v = RandomNumber(rng);
      csv += (rng() % 8 == 0 ? ", " : ",") + v;
      float f = 0;
      REQUIRE(ParseNumber(v, &f));
      want_csv.push_back(f);

      std::string id = std::to_string(rng() % 1000);
      if (rng() % 4 == 0) id = RandomNumber(rng).substr(0, 19);
      if (id.find_first_of(".e") != std::string::npos) id = "0" + id.substr(0, id.find_first_of(".e"));
      int64_t want_id = 0;
      const char* q = id[0] == '+' ? id.data() + 1 : id.data();
      if (std::from_chars(q, id.data() + id.size(), want_id).ec != std::errc()) continue;  // out of int64
      want_ids.push_back(want_id);
      want_values.push_back(f);
      svm += (rng() % 8 == 0 ? "  " : " ") + id + ":" + v;
    }
    csv += "\n";
    svm += r % 3 == 0 ? "\r\n" : "\n";
  }
  auto csv_reader = OpenCsvReader(dir.WriteText("n.csv", csv), "label", 1);
  REQUIRE(csv_reader.ok());
  auto rows = ReadAll(**csv_reader);
  REQUIRE(rows.size() == kRows);
  for (int r = 0; r < kRows; ++r)
    for (int i = 0; i < kFeatures; ++i) {
      INFO("row " << r << " feature " << i);
      REQUIRE(FloatBits(rows[r].Values<float>(0)[i]) == FloatBits(want_csv[static_cast<size_t>(r * kFeatures + i)]));
    }

  auto svm_reader = OpenLibsvmReader(dir.WriteText("n.svm", svm), 0, 1);
  REQUIRE(svm_reader.ok());
  std::vector<int64_t> ids;
  std::vector<uint32_t> values, want_bits;
  for (const Example& e : ReadAll(**svm_reader)) {
    for (int64_t id : Col<int64_t>(e, 1)) ids.push_back(id);
    for (float v : Col<float>(e, 2)) values.push_back(FloatBits(v));
  }
  for (float v : want_values) want_bits.push_back(FloatBits(v));
  CHECK(ids == want_ids);
  CHECK(values == want_bits);
}

TEST_CASE("csv rows of runs of lone digits and decimals read field for field as the one-number parser reads them") {
  testing::IdxDir dir;
  std::mt19937_64 rng(31);
  constexpr int kFields = 61, kRows = 300;
  for (int label_at : {0, 29, kFields - 1}) {
    std::string csv;
    for (int i = 0; i < kFields; ++i) csv += (i > 0 ? "," : "") + (i == label_at ? std::string("label") : "f" + std::to_string(i));
    csv += "\n";
    std::vector<float> want;
    for (int r = 0; r < kRows; ++r) {
      // Runs of lone digits (images: the background), decimals as the
      // converters print them, negatives, and now and then another form.
      int run = 0;
      for (int i = 0; i < kFields; ++i) {
        if (i > 0) csv += ',';
        if (i == label_at) {
          csv += std::to_string(r % 10);
          continue;
        }
        std::string v;
        if (run == 0 && rng() % 3 == 0) run = 1 + static_cast<int>(rng() % 24);
        if (run > 0) {
          --run;
          v = std::to_string(rng() % 10);
        } else if (rng() % 40 == 0) {
          v = RandomNumber(rng);
        } else {
          char buf[32];
          const float f = static_cast<float>(static_cast<int>(rng() % 512) - 100) / 255.0f;
          v.assign(buf, std::to_chars(buf, buf + sizeof buf, f).ptr);
        }
        csv += v;
        float f = 0;
        REQUIRE(ParseNumber(v, &f));
        want.push_back(f);
      }
      csv += r % 7 == 0 ? "\r\n" : "\n";
    }
    auto reader = OpenCsvReader(dir.WriteText("runs" + std::to_string(label_at) + ".csv", csv), "label", 1);
    REQUIRE(reader.ok());
    auto rows = ReadAll(**reader);
    REQUIRE(rows.size() == kRows);
    for (int r = 0; r < kRows; ++r) {
      CHECK(rows[r].Values<int32_t>(1)[0] == r % 10);
      for (int i = 0; i < kFields - 1; ++i) {
        INFO("label at " << label_at << " row " << r << " feature " << i);
        REQUIRE(FloatBits(rows[r].Values<float>(0)[i]) == FloatBits(want[static_cast<size_t>(r * (kFields - 1) + i)]));
      }
    }
  }
  // A bad field inside a run, inside a batch of decimals, or a row a field short: the same errors as ever.
  std::string zeros;
  for (int i = 0; i < 30; ++i) zeros += "0,";
  const std::string header = "label" + [] {
    std::string h;
    for (int i = 0; i < 40; ++i) h += ",f" + std::to_string(i);
    return h;
  }() + "\n";
  const std::string good = "1," + zeros + "0.5,0.25,-0.125,0.75,1,0.1,0.2,0.3,0.4,0\n";
  std::string bad_run = good;
  bad_run[2 + 2 * 17] = 'z';
  std::string bad_decimal = good;
  bad_decimal.replace(bad_decimal.find("0.25"), 4, "0.2.5");
  const std::string short_row = "1," + zeros + "0.5,0.25,-0.125,0.75,1,0.1,0.2,0.3,0.4\n";
  CHECK(FirstError(OpenCsvReader(dir.WriteText("b1.csv", header + good + bad_run), "label", 1)) ==
        dir.path("b1.csv") + ":3: column 'f17' holds 'z', not a number");
  CHECK(FirstError(OpenCsvReader(dir.WriteText("b2.csv", header + good + good + bad_decimal), "label", 1)) ==
        dir.path("b2.csv") + ":4: column 'f31' holds '0.2.5', not a number");
  CHECK(FirstError(OpenCsvReader(dir.WriteText("b3.csv", header + short_row), "label", 1)) ==
        dir.path("b3.csv") + ":2: 40 fields, but the header has 41");
}

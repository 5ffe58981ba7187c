#include <catch2/catch.hpp>

#include <filesystem>

#include "data/dataset.h"
#include "data/idx_reader.h"
#include "idx_files.h"

using namespace flowps;
using namespace flowps::data;

TEST_CASE("gzip'ed and plain IDX images read as float32 in [0,1], labels as int32") {
  testing::IdxDir dir;
  std::string img = dir.Write("img.gz", 0x08, {2, 2, 3}, {0, 255, 51, 102, 0, 0, 1, 2, 3, 4, 5, 255});
  auto t = ReadIdxImages(img);
  REQUIRE(t.ok());
  CHECK(t->dtype() == DType::kFloat32);
  CHECK(t->shape() == Shape{2, 2, 3});
  CHECK(t->data<float>()[0] == 0.f);
  CHECK(t->data<float>()[1] == 1.f);
  CHECK(t->data<float>()[2] == Approx(0.2f));
  std::string lab = dir.Write("lab", 0x08, {4}, {3, 0, 9, 1}, /*gzip=*/false);
  auto l = ReadIdxLabels(lab, 10);
  REQUIRE(l.ok());
  CHECK(l->dtype() == DType::kInt32);
  CHECK(l->ToVector<int32_t>() == std::vector<int32_t>{3, 0, 9, 1});
}

TEST_CASE("a bad magic number, a wrong size or a bad label is refused naming the file") {
  testing::IdxDir dir;
  std::string wrong_type = dir.Write("float.gz", 0x0D, {1, 1, 1}, {0, 0, 0, 0});
  auto a = ReadIdxImages(wrong_type);
  REQUIRE_FALSE(a.ok());
  CHECK_THAT(a.status().message(), Catch::Contains(wrong_type) && Catch::Contains("bad magic number 0x00000d03"));

  std::string labels_as_images = dir.Write("labels.gz", 0x08, {3}, {1, 2, 3});
  CHECK_THAT(ReadIdxImages(labels_as_images).status().message(), Catch::Contains("bad magic number 0x00000801"));

  std::string short_body = dir.Write("short.gz", 0x08, {2, 2, 2}, {1, 2, 3});
  auto s = ReadIdxImages(short_body);
  CHECK_THAT(s.status().message(), Catch::Contains(short_body) && Catch::Contains("promises 8 values but the file holds 3"));

  std::string long_body = dir.Write("long.gz", 0x08, {2}, {1, 2, 3});
  CHECK_THAT(ReadIdxLabels(long_body, 10).status().message(), Catch::Contains("promises 2 values but the file holds 3"));

  std::string bad_label = dir.Write("bad_label.gz", 0x08, {3}, {1, 12, 3});
  CHECK_THAT(ReadIdxLabels(bad_label, 10).status().message(), Catch::Contains("label 12 at index 1"));

  std::string tiny = dir.Write("tiny.gz", 0x08, {}, {});
  std::filesystem::resize_file(dir.path("tiny.gz"), 0);
  CHECK_THAT(ReadIdxLabels(tiny, 10).status().message(), Catch::Contains("too short"));

  auto missing = ReadIdxLabels(dir.path("nope.gz"), 10);
  CHECK(missing.status().code() == Code::kNotFound);
  CHECK_THAT(missing.status().message(), Catch::Contains("nope.gz"));
}

TEST_CASE("Fashion-MNIST files load with matching counts and refuse mismatched pairs") {
  testing::IdxDir dir;
  dir.WriteFashionLike("train", 30);
  dir.WriteFashionLike("t10k", 12);
  auto train = LoadFashionMnist(dir.path(""), Split::kTrain);
  REQUIRE(train.ok());
  CHECK(train->size() == 30);
  CHECK(train->images.shape() == Shape{30, 784});
  CHECK(train->images.data<float>()[7 * 784 + 5] == Approx(7.f / 255.f));
  CHECK(train->labels.data<int32_t>()[13] == 3);
  auto test = LoadFashionMnist(dir.path(""), Split::kTest);
  REQUIRE(test.ok());
  CHECK(test->size() == 12);

  dir.Write("t10k-labels-idx1-ubyte.gz", 0x08, {11}, std::vector<uint8_t>(11, 1));
  auto mismatched = LoadFashionMnist(dir.path(""), Split::kTest);
  REQUIRE_FALSE(mismatched.ok());
  CHECK_THAT(mismatched.status().message(), Catch::Contains("holds 11 labels but") && Catch::Contains("holds 12 images"));
}

TEST_CASE("the real Fashion-MNIST files, when installed, hold 60000 + 10000 images of 28x28") {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz")) {
    WARN("dataset-fashion-mnist is not installed; real-data check not run");
    return;
  }
  auto train = LoadFashionMnist(kFashionMnistDir, Split::kTrain);
  REQUIRE(train.ok());
  CHECK(train->size() == 60000);
  CHECK(train->rows == 28);
  CHECK(train->cols == 28);
  auto test = LoadFashionMnist(kFashionMnistDir, Split::kTest);
  REQUIRE(test.ok());
  CHECK(test->size() == 10000);
  // Fashion-MNIST is balanced: 1000 test images per class.
  std::vector<int> counts(10, 0);
  for (int32_t l : test->labels.ToVector<int32_t>()) ++counts[l];
  CHECK(counts == std::vector<int>(10, 1000));
}

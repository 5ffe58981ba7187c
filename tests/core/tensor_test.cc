#include <catch2/catch.hpp>

#include "core/shape_check.h"
#include "core/tensor.h"

using namespace flowps;

TEST_CASE("a slice along the first dimension shares the buffer and sees the right rows") {
  Tensor t = Tensor::FromVector<float>(Shape{3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor s = t.Slice(1, 3);
  REQUIRE(s.SharesBufferWith(t));
  REQUIRE(s.shape() == Shape{2, 2});
  CHECK(s.ToVector<float>() == std::vector<float>{3, 4, 5, 6});
  s.data<float>()[0] = 30;
  CHECK(t.data<float>()[2] == 30);
}

TEST_CASE("a reshape to another element count is refused") {
  Tensor t = Tensor::Zeros(DType::kFloat32, Shape{2, 3});
  CHECK(t.Reshaped(Shape{3, 2}).ok());
  auto bad = t.Reshaped(Shape{4, 2});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("[4,2]") != std::string::npos);
}

TEST_CASE("bfloat16 truncates the low 16 bits of float32") {
  float x = 1.0f + 1.0f / 128 + 1.0f / 65536;  // the last bit is below bfloat16's mantissa
  CHECK(BFloat16ToFloat(FloatToBFloat16(x)) == 1.0f + 1.0f / 128);
  Tensor t = Tensor::FromVector<float>(Shape{2}, {3.0f, -0.5f});
  CHECK(FromBFloat16(ToBFloat16(t)).ToVector<float>() == std::vector<float>{3.0f, -0.5f});
}

TEST_CASE("a dtype or shape mismatch is reported with both types") {
  Tensor t = Tensor::Zeros(DType::kInt32, Shape{4});
  Status s = t.Check(DType::kFloat32, Shape{-1}, "input x");
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() == "input x: expected float32[?], got int32[4]");
  CHECK(t.Check(DType::kInt32, Shape{-1}, "x").ok());
}

TEST_CASE("buffers are 64-byte aligned") {
  Tensor t(DType::kFloat32, Shape{7});
  CHECK(reinterpret_cast<uintptr_t>(t.raw_data()) % 64 == 0);
}

TEST_CASE("a shape whose element count overflows int64 is refused and never wraps around") {
  Shape huge{int64_t{1} << 40, int64_t{1} << 40};
  CHECK(huge.num_elements() == kMaxTensorElements + 1);
  CHECK(Shape{int64_t{1} << 62, 4, 0}.num_elements() == 0);
  auto s = CheckShape(huge);
  REQUIRE(!s.ok());
  CHECK(s.message() == "shape [1099511627776,1099511627776] has more than 2^56 elements");
  CHECK(CheckShape(Shape{-1, 784}, /*allow_unknown=*/true).ok());
  CHECK(!CheckShape(Shape{-1, 784}).ok());
  CHECK(!CheckShape(Shape{-1, int64_t{1} << 40, int64_t{1} << 40}, true).ok());
  CHECK(CheckShape(Shape{64, 784}).ok());
}

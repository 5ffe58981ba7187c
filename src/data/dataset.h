// Dataset: labelled images held in memory, and the Fashion-MNIST loader.
#pragma once

#include <string>

#include "core/status.h"
#include "core/tensor.h"

namespace flowps::data {

// Images float32 [n, rows * cols] in [0, 1]; labels int32 [n] in [0, num_classes).
// A value: copies share the tensors.
struct Dataset {
  Tensor images;
  Tensor labels;
  int64_t rows = 0;
  int64_t cols = 0;
  int num_classes = 0;

  int64_t size() const { return labels.valid() ? labels.shape().dim(0) : 0; }
  int64_t features() const { return rows * cols; }
};

enum class Split { kTrain, kTest };

// Debian's dataset-fashion-mnist puts the files here.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Reads <dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (or the same
// names without .gz). Checks that the images are 28x28, that the counts of
// images and labels agree and that labels are in 0..9.
StatusOr<Dataset> LoadFashionMnist(const std::string& dir, Split split);

}  // namespace flowps::data

#include "data/dataset.h"

#include <filesystem>

#include "data/idx_reader.h"

namespace flowps::data {
namespace {

std::string PickFile(const std::string& dir, const std::string& base) {
  std::string gz = dir + "/" + base + ".gz";
  if (std::filesystem::exists(gz) || !std::filesystem::exists(dir + "/" + base)) return gz;
  return dir + "/" + base;
}

}  // namespace

StatusOr<Dataset> LoadFashionMnist(const std::string& dir, Split split) {
  std::string prefix = split == Split::kTrain ? "train" : "t10k";
  std::string images_path = PickFile(dir, prefix + "-images-idx3-ubyte");
  std::string labels_path = PickFile(dir, prefix + "-labels-idx1-ubyte");
  FLOWPS_ASSIGN_OR_RETURN(Tensor images, ReadIdxImages(images_path));
  const Shape& s = images.shape();
  if (s.dim(1) != 28 || s.dim(2) != 28)
    return InvalidArgument(images_path + ": images are " + std::to_string(s.dim(1)) + "x" + std::to_string(s.dim(2)) +
                           ", Fashion-MNIST has 28x28");
  Dataset ds;
  ds.rows = s.dim(1);
  ds.cols = s.dim(2);
  ds.num_classes = 10;
  FLOWPS_ASSIGN_OR_RETURN(ds.images, images.Reshaped(Shape{s.dim(0), ds.rows * ds.cols}));
  FLOWPS_ASSIGN_OR_RETURN(ds.labels, ReadIdxLabels(labels_path, ds.num_classes));
  if (ds.labels.shape().dim(0) != s.dim(0))
    return InvalidArgument(labels_path + ": holds " + std::to_string(ds.labels.shape().dim(0)) + " labels but " +
                           images_path + " holds " + std::to_string(s.dim(0)) + " images");
  return ds;
}

}  // namespace flowps::data

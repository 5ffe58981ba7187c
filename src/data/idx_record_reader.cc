// The streaming idx reader (record_reader.h): images and labels read record
// by record, never whole.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "data/line_reader.h"
#include "data/record_reader.h"

namespace flowps::data {
namespace {

constexpr uint8_t kUnsignedByte = 0x08;

struct IdxHeader {
  std::vector<int64_t> dims;
};

// Reads and checks the header; errors are "path:0: ...".
StatusOr<IdxHeader> ReadHeader(gzFile f, const std::string& path, bool images) {
  uint8_t head[4];
  FLOWPS_ASSIGN_OR_RETURN(size_t got, ReadGz(f, path, head, 4));
  const std::string where = path + ":0: ";
  if (got < 4) return InvalidArgument(where + "too short for an IDX header");
  const int rank = head[3];
  if (head[0] != 0 || head[1] != 0 || head[2] != kUnsignedByte || (images ? rank < 2 : rank != 1)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%02x%02x%02x%02x", head[0], head[1], head[2], head[3]);
    return InvalidArgument(where + "bad magic number " + buf + ": not an IDX file of unsigned bytes " +
                           (images ? "with 2 or more dimensions (images)" : "with 1 dimension (labels)"));
  }
  IdxHeader h;
  for (int i = 0; i < rank; ++i) {
    uint8_t d[4];
    FLOWPS_ASSIGN_OR_RETURN(size_t n, ReadGz(f, path, d, 4));
    if (n < 4) return InvalidArgument(where + "truncated IDX header");
    h.dims.push_back((int64_t{d[0]} << 24) | (int64_t{d[1]} << 16) | (int64_t{d[2]} << 8) | int64_t{d[3]});
  }
  return h;
}

class IdxReader final : public RecordReader {
 public:
  static constexpr int64_t kBlockRecords = 256;

  IdxReader(std::string images_path, GzFile images, std::string labels_path, GzFile labels, int64_t count,
            int64_t features)
      : images_path_(std::move(images_path)), labels_path_(std::move(labels_path)), images_(std::move(images)),
        labels_(std::move(labels)), count_(count), features_(static_cast<size_t>(features)) {
    schema_ = {{"features", DType::kFloat32, {features}, ""}, {"label", DType::kInt32, {}, ""}};
  }

  const Schema& schema() const override { return schema_; }
  StatusOr<int64_t> CountRecords() override { return count_ - record_; }

  // Up to kBlockRecords images and labels in one read each, converted
  // straight into the block.
  Status NextBlock(RecordBlock* out) override {
    out->Reset(schema_);
    const size_t n = static_cast<size_t>(std::min(kBlockRecords, count_ - record_));
    if (n == 0) return Status::OK();
    bytes_.resize(n * features_);
    labels_bytes_.resize(n);
    FLOWPS_ASSIGN_OR_RETURN(size_t got, ReadGz(images_.get(), images_path_, bytes_.data(), bytes_.size()));
    FLOWPS_ASSIGN_OR_RETURN(size_t got_labels, ReadGz(labels_.get(), labels_path_, labels_bytes_.data(), n));
    const size_t whole = std::min(got / features_, got_labels);
    float* f = reinterpret_cast<float*>(out->Grow(0, whole * features_ * sizeof(float)));
    for (size_t i = 0; i < whole * features_; ++i) f[i] = static_cast<float>(bytes_[i]) * (1.0f / 255.0f);
    int32_t* l = reinterpret_cast<int32_t*>(out->Grow(1, whole * sizeof(int32_t)));
    for (size_t i = 0; i < whole; ++i) l[i] = labels_bytes_[i];
    for (size_t i = 0; i < whole; ++i) out->EndRecord();
    record_ += static_cast<int64_t>(whole);
    if (whole == n) return Status::OK();
    ++record_;  // the record that is cut short
    return Truncated(got / features_ < n ? images_path_ : labels_path_);
  }

 private:
  Status Truncated(const std::string& path) const {
    return InvalidArgument(path + ":" + std::to_string(record_) + ": the file ends in record " +
                           std::to_string(record_) + " of the " + std::to_string(count_) + " its header promises");
  }

  std::string images_path_, labels_path_;
  GzFile images_, labels_;
  int64_t count_;
  int64_t record_ = 0;
  size_t features_;
  std::vector<uint8_t> bytes_, labels_bytes_;
  Schema schema_;
};

}  // namespace

StatusOr<std::unique_ptr<RecordReader>> OpenIdxReader(const std::string& images_path, const std::string& labels_path) {
  FLOWPS_ASSIGN_OR_RETURN(GzFile images, OpenGz(images_path));
  FLOWPS_ASSIGN_OR_RETURN(GzFile labels, OpenGz(labels_path));
  FLOWPS_ASSIGN_OR_RETURN(IdxHeader ih, ReadHeader(images.get(), images_path, true));
  FLOWPS_ASSIGN_OR_RETURN(IdxHeader lh, ReadHeader(labels.get(), labels_path, false));
  if (ih.dims[0] != lh.dims[0])
    return InvalidArgument(images_path + ":0: holds " + std::to_string(ih.dims[0]) + " images but " + labels_path +
                           " holds " + std::to_string(lh.dims[0]) + " labels");
  int64_t features = 1;
  for (size_t i = 1; i < ih.dims.size(); ++i) features *= ih.dims[i];
  if (features <= 0 || features > (int64_t{1} << 30))
    return InvalidArgument(images_path + ":0: an image of " + std::to_string(features) + " values");
  return std::unique_ptr<RecordReader>(
      new IdxReader(images_path, std::move(images), labels_path, std::move(labels), ih.dims[0], features));
}

}  // namespace flowps::data

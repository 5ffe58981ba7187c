#include "net/response_keeper.h"

namespace flowps {

bool ResponseKeeper::Attach(const void* inside, std::shared_ptr<const void> what) {
  const auto* at = static_cast<const capnp::word*>(inside);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = segments_.upper_bound(at);
  if (it == segments_.begin()) return false;
  --it;
  if (at >= it->second.end) return false;
  it->second.message->attached_.push_back(std::move(what));
  ++attached_;
  return true;
}

size_t ResponseKeeper::attached() const {
  std::lock_guard<std::mutex> lock(mu_);
  return attached_;
}

void ResponseKeeper::AddSegment(kj::ArrayPtr<capnp::word> segment, KeptMessageBuilder* message) {
  std::lock_guard<std::mutex> lock(mu_);
  segments_[segment.begin()] = Segment{segment.end(), message};
  message->segments_.push_back(segment.begin());
}

std::vector<std::shared_ptr<const void>> ResponseKeeper::Forget(KeptMessageBuilder& message) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const capnp::word* s : message.segments_) segments_.erase(s);
  message.segments_.clear();
  attached_ -= message.attached_.size();
  return std::move(message.attached_);
}

KeptMessageBuilder::KeptMessageBuilder(std::shared_ptr<ResponseKeeper> keeper, uint first_segment_words)
    : capnp::MallocMessageBuilder(first_segment_words), keeper_(std::move(keeper)) {}

// Runs before the base class frees the segments, so that no Attach finds them then.
KeptMessageBuilder::~KeptMessageBuilder() noexcept(false) {
  std::vector<std::shared_ptr<const void>> released = keeper_->Forget(*this);
  released.clear();  // outside the keeper's lock: this may free a large buffer
}

kj::ArrayPtr<capnp::word> KeptMessageBuilder::allocateSegment(uint minimum_size) {
  kj::ArrayPtr<capnp::word> segment = capnp::MallocMessageBuilder::allocateSegment(minimum_size);
  keeper_->AddSegment(segment, this);
  return segment;
}

}  // namespace flowps

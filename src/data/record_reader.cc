#include "data/record_reader.h"

namespace flowps::data {

StatusOr<bool> RecordReader::Next(Example* out) {
  while (next_ == block_.size) {
    FLOWPS_RETURN_IF_ERROR(pending_);
    next_ = 0;
    pending_ = NextBlock(&block_);
    if (block_.size == 0) {
      FLOWPS_RETURN_IF_ERROR(pending_);
      return false;
    }
  }
  out->Assign(block_, next_++);
  return true;
}

StatusOr<int64_t> RecordReader::CountRecords() {
  int64_t n = 0;
  for (RecordBlock block;;) {
    FLOWPS_RETURN_IF_ERROR(NextBlock(&block));
    if (block.size == 0) return n;
    n += block.size;
  }
}

Status RecordAtATimeReader::NextBlock(RecordBlock* out) {
  out->Reset(schema());
  while (out->size < kBlockRecords) {
    FLOWPS_ASSIGN_OR_RETURN(bool more, ReadRecord(&scratch_));
    if (!more) break;
    out->Append(scratch_);
  }
  return Status::OK();
}

}  // namespace flowps::data

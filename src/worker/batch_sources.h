// The BatchSource of a distributed worker: its shard of the training data,
// from the streaming input pipeline (data/pipeline.h), which reads, parses,
// shuffles and batches on a thread of its own ahead of the step.
#pragma once

#include <memory>

#include "data/pipeline.h"
#include "worker/training_loop.h"

namespace flowps {

// Batches of a Pipeline (worker i of n: options.worker, options.num_workers),
// epoch after epoch unless options.epochs says otherwise. A read error
// ("file:line: ...") is returned by the Next() that reaches it and every later
// one. Next() is called from one thread at a time.
class PipelineBatchSource final : public BatchSource {
 public:
  explicit PipelineBatchSource(std::unique_ptr<data::Pipeline> pipeline) : pipeline_(std::move(pipeline)) {}
  StatusOr<data::ColumnBatch> Next() override { return pipeline_->Next(); }

 private:
  std::unique_ptr<data::Pipeline> pipeline_;
};

}  // namespace flowps

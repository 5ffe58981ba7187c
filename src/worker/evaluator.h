// The chief's evaluator: the model's test metrics (accuracy, auc, mean, loss) every eval_every_steps
// global steps (the first multiple above the step the job started from) and
// at the end, over one pass of the test data. It runs on the model as last
// loaded, between steps.
#pragma once

#include <cstdint>
#include <functional>

#include <kj/async.h>

#include "core/status.h"
#include "data/data_source.h"
#include "worker/model_metrics.h"

namespace flowps {

class Evaluator {
 public:
  // The model's metrics over one pass of the test data (ModelTowers::Evaluate,
  // or TableSource::Evaluate for a model with embedding tables).
  using Pass = std::function<kj::Promise<StatusOr<TestMetrics>>(const data::DataSource& test)>;
  // `every_steps` 0: only at the end. REQUIRES: what `pass` uses outlives it.
  Evaluator(data::DataSource test, int64_t every_steps, Pass pass);
  // The job's first global step: the first evaluation is at the next multiple.
  void Start(int64_t global_step);
  bool Due(int64_t global_step) const { return next_ > 0 && global_step >= next_; }
  // The model's metrics now; the next is due at the multiple after `global_step`.
  kj::Promise<StatusOr<TestMetrics>> Evaluate(int64_t global_step);

 private:
  int64_t NextAfter(int64_t global_step) const;

  data::DataSource test_;
  int64_t every_;
  Pass pass_;
  int64_t next_ = -1;
};

}  // namespace flowps

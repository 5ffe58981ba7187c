#include "worker/evaluator.h"


namespace flowps {

Evaluator::Evaluator(data::DataSource test, int64_t every_steps, Pass pass)
    : test_(std::move(test)), every_(every_steps), pass_(std::move(pass)) {}

int64_t Evaluator::NextAfter(int64_t global_step) const {
  return every_ > 0 ? (global_step / every_ + 1) * every_ : -1;
}

void Evaluator::Start(int64_t global_step) { next_ = NextAfter(global_step); }

kj::Promise<StatusOr<TestMetrics>> Evaluator::Evaluate(int64_t global_step) {
  next_ = NextAfter(global_step);
  return pass_(test_);
}

}  // namespace flowps

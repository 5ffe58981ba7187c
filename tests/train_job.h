// Runs a job with TrainLocally on a 2-thread pool for tests, capturing its log.
#pragma once

#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>
#include <string>

#include "core/thread_pool.h"
#include "worker/local_trainer.h"

namespace flowps::testing {

// Trains `job`; its log goes to *log.
inline StatusOr<TrainResult> TrainJob(const JobSpec& job, std::string* log) {
  std::ostringstream text;
  spdlog::logger logger("worker", std::make_shared<spdlog::sinks::ostream_sink_mt>(text));
  auto pool = NewAsioThreadPool(2);
  TrainOptions options;
  options.pool = pool.get();
  auto result = TrainLocally(job, options, &logger);
  *log = text.str();
  return result;
}

}  // namespace flowps::testing

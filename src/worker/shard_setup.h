// The chief's shard setup: configures every ps shard for the job (mode,
// optimizer, checkpoints), creates the job's embedding tables (job.tables) and
// the model's variables there with their
// initializers -- or, when checkpoint.dir holds complete checkpoints, resumes
// from ONE of them on every shard: the newest that every shard can restore
// (a checkpoint whose file is corrupt on one shard is skipped on all), so a
// shard that never restarted is rolled back with the others and the shards
// never start apart. With checkpoints none of which every shard can restore,
// the job fails rather than mix states.
//
// Reaching the shards: a shard that does not answer configure yet (not
// listening, connect or login too slow on a loaded machine) is asked again
// with a growing delay, each try logged, until the setup deadline; a refusal
// (a bad config, a wrong token) fails at once.
//
// Runs on the job thread (the PsClient's); ps, log and timer must outlive the promise.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <kj/async.h>
#include <kj/timer.h>

#include "core/job_spec.h"
#include "core/status.h"
#include "kernels/initializers.h"
#include "net/ps_client.h"
#include "worker/models.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace flowps {

// The model's initializers (its Variable nodes' attributes) as the ps runs
// them, by variable name: every model has them (ModelFromGraph).
std::map<std::string, kernels::InitializerSpec> PsInitializers(const Model& model);

// How the job's ps shards train: its mode, optimizer and checkpoints (the one
// place the job spec becomes the shards' config). `job_id` names this run of
// the job: a shard configured for another run starts anew.
PsJobConfig PsJobConfigFromJobSpec(const JobSpec& job, const std::string& job_id = "");

struct ShardSetupOptions {
  std::string job_id;                           // the chief's id of this run of the job
  std::chrono::milliseconds deadline{120000};   // reaching every shard, tries included (cluster setup_timeout_s)
  std::chrono::milliseconds first_retry{250};   // the delay before the second try; doubles per try
  std::chrono::milliseconds max_retry{4000};    // the longest delay between tries
};

class ShardSetup {
 public:
  ShardSetup(PsClient* ps, spdlog::logger* log, kj::Timer& timer, ShardSetupOptions options = {})
      : ps_(ps), log_(log), timer_(timer), options_(std::move(options)) {}
  // Resolves to the checkpoint the job resumes from (-1: none, the variables
  // were created) or to the error.
  kj::Promise<StatusOr<int64_t>> Run(const JobSpec& job, const Model& model);

 private:
  void LogPlacement(const JobSpec& job, int64_t resumed, int created);
  // Configure, tried again while the shards cannot be reached (see above).
  kj::Promise<std::vector<int64_t>> Configure(PsJobConfig config, int attempt, kj::TimePoint start);
  // Has every shard restore (*complete)[i], or the next older one that all can.
  kj::Promise<StatusOr<int64_t>> RestoreCommon(const JobSpec& job, std::shared_ptr<const std::vector<int64_t>> complete,
                                               size_t i, std::string skipped);

  PsClient* ps_;
  spdlog::logger* log_;
  kj::Timer& timer_;
  ShardSetupOptions options_;
};

}  // namespace flowps

// The chief's shard setup: configures every ps shard for the job (mode,
// optimizer, checkpoints) and creates the model's variables there with their
// initializers -- or, when checkpoint.dir holds complete checkpoints, resumes
// from ONE of them on every shard: the newest that every shard can restore
// (a checkpoint whose file is corrupt on one shard is skipped on all), so a
// shard that never restarted is rolled back with the others and the shards
// never start apart. With checkpoints none of which every shard can restore,
// the job fails rather than mix states.
//
// Runs on the job thread (the PsClient's); ps and log must outlive the promise.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <kj/async.h>

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
// place the job spec becomes the shards' config).
PsJobConfig PsJobConfigFromJobSpec(const JobSpec& job);

class ShardSetup {
 public:
  ShardSetup(PsClient* ps, spdlog::logger* log) : ps_(ps), log_(log) {}
  // Resolves to the checkpoint the job resumes from (-1: none, the variables
  // were created) or to the error.
  kj::Promise<StatusOr<int64_t>> Run(const JobSpec& job, const Model& model);

 private:
  void LogPlacement(const JobSpec& job, int64_t resumed, int created);
  // Has every shard restore (*complete)[i], or the next older one that all can.
  kj::Promise<StatusOr<int64_t>> RestoreCommon(const JobSpec& job, std::shared_ptr<const std::vector<int64_t>> complete,
                                               size_t i, std::string skipped);

  PsClient* ps_;
  spdlog::logger* log_;
};

}  // namespace flowps

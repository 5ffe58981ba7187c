#include "worker/shard_setup.h"

#include <spdlog/logger.h>

#include <algorithm>


namespace flowps {

std::map<std::string, kernels::InitializerSpec> PsInitializers(const Model& model) {
  std::map<std::string, kernels::InitializerSpec> inits;
  for (const ModelVariable& v : model.variables) inits[v.name] = v.initializer;
  return inits;
}

PsJobConfig PsJobConfigFromJobSpec(const JobSpec& job) {
  PsJobConfig c;
  c.mode = job.mode.mode;
  c.replicas_to_aggregate = job.mode.replicas_to_aggregate;
  c.total_workers = job.mode.total_workers;
  c.max_staleness = job.mode.max_staleness;
  c.staleness_policy = job.mode.staleness_policy;
  c.optimizer = job.optimizer;
  c.checkpoint_dir = job.checkpoint.dir;
  c.keep_checkpoints = job.checkpoint.keep;
  return c;
}

kj::Promise<StatusOr<int64_t>> ShardSetup::Run(const JobSpec& job, const Model& model) {
  return ps_->Configure(PsJobConfigFromJobSpec(job))
      .then([this, inits = PsInitializers(model)](std::vector<int64_t> restored) mutable {
        const int64_t resumed = restored.empty() ? -1 : *std::min_element(restored.begin(), restored.end());
        return ps_->CreateVariables(std::move(inits)).then([resumed](int created) {
          return std::make_pair(resumed, created);
        });
      })
      .then([this, &job](std::pair<int64_t, int> r) -> StatusOr<int64_t> {
        LogPlacement(job, r.first, r.second);
        return r.first;
      });
}

void ShardSetup::LogPlacement(const JobSpec& job, int64_t resumed, int created) {
  if (resumed >= 0)
    log_->info("job '{}': resuming from checkpoint {} ({} variable parts restored by the ps)", job.name, resumed,
               ps_->plan().variables.size());
  else
    log_->info("job '{}': created {} variable parts on {} ps shards", job.name, created, ps_->num_shards());
  for (const VariablePlacement& p : ps_->plan().variables) {
    std::string where;
    for (const VariablePart& part : p.parts)
      where += fmt::format("{}ps:{} rows [{}, {})", where.empty() ? "" : ", ", part.shard, part.row_begin, part.row_end);
    log_->debug("variable {} {}: {}", p.name, p.full_shape.ToString(), where);
  }
}

}  // namespace flowps

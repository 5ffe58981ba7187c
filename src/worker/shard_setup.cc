#include "worker/shard_setup.h"

#include <spdlog/logger.h>

#include <algorithm>
#include <memory>

#include <kj/debug.h>

#include "net/rpc_common.h"

namespace flowps {

std::map<std::string, kernels::InitializerSpec> PsInitializers(const Model& model) {
  std::map<std::string, kernels::InitializerSpec> inits;
  for (const ModelVariable& v : model.variables) inits[v.name] = v.initializer;
  return inits;
}

PsJobConfig PsJobConfigFromJobSpec(const JobSpec& job, const std::string& job_id) {
  PsJobConfig c;
  c.job_id = job_id;
  c.mode = job.mode.mode;
  c.replicas_to_aggregate = job.mode.replicas_to_aggregate;
  c.total_workers = job.mode.total_workers;
  c.max_staleness = job.mode.max_staleness;
  c.staleness_policy = job.mode.staleness_policy;
  c.optimizer = job.optimizer;
  c.checkpoint_dir = job.checkpoint.dir;
  c.keep_checkpoints = job.checkpoint.keep;
  c.table_full_every = job.checkpoint.table_full_every;
  return c;
}

kj::Promise<StatusOr<int64_t>> ShardSetup::Run(const JobSpec& job, const Model& model) {
  return Configure(PsJobConfigFromJobSpec(job, options_.job_id), 1, timer_.now())
      .then([this, &job](std::vector<int64_t>) -> kj::Promise<StatusOr<int64_t>> {
        if (job.checkpoint.dir.empty()) return StatusOr<int64_t>(-1);
        return ps_->CompleteCheckpoints().then([this, &job](std::vector<int64_t> complete) {
          return RestoreCommon(job, std::make_shared<std::vector<int64_t>>(std::move(complete)), 0, "");
        });
      })
      .then([this, &job, inits = PsInitializers(model)](
                StatusOr<int64_t> resumed) mutable -> kj::Promise<StatusOr<int64_t>> {
        if (!resumed.ok()) return resumed;
        kj::Promise<int> tables = job.tables.empty() ? kj::Promise<int>(0) : ps_->CreateTables(job.tables);
        return tables.then([this, inits = std::move(inits)](int) mutable { return ps_->CreateVariables(std::move(inits)); })
            .then([this, &job, r = *resumed](int created) {
              LogPlacement(job, r, created);
              return StatusOr<int64_t>(r);
            });
      });
}

kj::Promise<StatusOr<int64_t>> ShardSetup::RestoreCommon(const JobSpec& job,
                                                         std::shared_ptr<const std::vector<int64_t>> complete,
                                                         size_t i, std::string skipped) {
  if (i == complete->size()) {
    if (complete->empty()) return StatusOr<int64_t>(-1);
    return StatusOr<int64_t>(FailedPrecondition(
        "no checkpoint in '" + job.checkpoint.dir + "' is complete and valid on every ps shard (" + skipped +
        "): the shards cannot start from one state; move the directory away to start the job afresh"));
  }
  const int64_t step = (*complete)[i];
  return ps_->RestoreCheckpoint(step).then(
      [this, &job, complete, i, step, skipped](std::vector<Status> outcomes) mutable -> kj::Promise<StatusOr<int64_t>> {
        std::string why;
        for (const Status& st : outcomes) {
          // A shard that cannot be reached says nothing about the checkpoint: no older one is tried.
          if (st.code() == Code::kUnavailable || st.code() == Code::kDeadlineExceeded)
            return StatusOr<int64_t>(st);
          if (!st.ok()) why += (why.empty() ? "" : "; ") + st.message();
        }
        if (why.empty()) {
          log_->info("job '{}': every ps shard restored checkpoint {}{}", job.name, step,
                     skipped.empty() ? "" : " (newer ones skipped: " + skipped + ")");
          return StatusOr<int64_t>(step);
        }
        log_->warn("job '{}': checkpoint {} cannot be restored on every ps shard ({}); trying an older one",
                   job.name, step, why);
        skipped += (skipped.empty() ? "" : "; ") + std::string("checkpoint ") + std::to_string(step) + ": " + why;
        return RestoreCommon(job, complete, i + 1, std::move(skipped));
      });
}

kj::Promise<std::vector<int64_t>> ShardSetup::Configure(PsJobConfig config, int attempt, kj::TimePoint start) {
  return ps_->Configure(config).catch_([this, config, attempt, start](kj::Exception&& e) mutable
                                        -> kj::Promise<std::vector<int64_t>> {
    const Status why = StatusFromException(e, "");
    const bool unreachable = why.code() == Code::kUnavailable || why.code() == Code::kDeadlineExceeded;
    if (!unreachable) return kj::mv(e);  // refused: trying again changes nothing
    const int64_t waited_ms = (timer_.now() - start) / kj::MILLISECONDS;
    const int64_t delay_ms = std::min<int64_t>(options_.first_retry.count() << std::min(attempt - 1, 20),
                                               options_.max_retry.count());
    if (waited_ms + delay_ms > options_.deadline.count())
      return KJ_EXCEPTION(DISCONNECTED, kj::str("job setup: the ps shards could not be reached and configured in ",
                                                waited_ms / 1000.0, " s (", attempt, " tries, setup_timeout_s ",
                                                options_.deadline.count() / 1000.0, "): ", why.message().c_str()));
    log_->warn("job setup: try {} to configure the ps shards failed after {:.1f} s of {:.0f} s: {}; trying again in {} ms",
               attempt, waited_ms / 1000.0, options_.deadline.count() / 1000.0, why.message(), delay_ms);
    return timer_.afterDelay(delay_ms * kj::MILLISECONDS).then([this, config = std::move(config), attempt, start]() mutable {
      return Configure(std::move(config), attempt + 1, start);
    });
  });
}

void ShardSetup::LogPlacement(const JobSpec& job, int64_t resumed, int created) {
  if (resumed >= 0)
    log_->info("job '{}': resuming from checkpoint {} ({} variable parts restored by every ps shard)", job.name,
               resumed,
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

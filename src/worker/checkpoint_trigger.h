// The chief's checkpoint trigger: when to ask every ps shard for a checkpoint
// (CheckpointPolicy: every K steps or T seconds) and asking for it.
#pragma once

#include <chrono>
#include <cstdint>

#include <kj/async.h>

#include "core/job_spec.h"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace flowps {

class PsClient;

// When the chief checkpoints: every `every_steps` steps or `every_seconds`
// seconds since the last checkpoint, whichever comes first (0 disables either).
// A value type; the clock is passed in.
class CheckpointPolicy {
 public:
  using Clock = std::chrono::steady_clock;
  CheckpointPolicy(int64_t every_steps, double every_seconds, Clock::time_point start = Clock::now())
      : every_steps_(every_steps), every_seconds_(every_seconds), last_time_(start) {}
  bool Due(int64_t step, Clock::time_point now) const;
  void Saved(int64_t step, Clock::time_point now) {
    last_step_ = step;
    last_time_ = now;
  }

 private:
  int64_t every_steps_;
  double every_seconds_;
  int64_t last_step_ = 0;
  Clock::time_point last_time_;
};

// Checkpoints the job's shards by its policy; does nothing for a job without
// checkpoint.dir. A checkpoint that fails while training (a full or broken
// disk, a ps that cannot write) does not fail the job: it is logged and
// counted, the shards keep the previous complete checkpoint (a failed shard
// file leaves no partial file, and no MANIFEST is written), and the next one
// is tried at the next interval while training goes on. Runs on the job
// thread (the PsClient's); both must outlive it.
class CheckpointTrigger {
 public:
  CheckpointTrigger(PsClient* ps, const CheckpointSpec& spec, spdlog::logger* log);
  // The job's first step here: the policy counts from it (a resumed job does
  // not checkpoint again at once).
  void Start(int64_t step);
  // Between steps: a checkpoint of `step` when one is due.
  kj::Promise<void> AtStep(int64_t step);
  // At the end of the job: a checkpoint of `step`; its failure fails the job
  // (the end state would be lost), naming the newest complete checkpoint.
  kj::Promise<void> Final(int64_t step);

  int64_t failures() const { return failures_; }  // checkpoints that failed while training
  int64_t last() const { return last_; }          // the newest complete checkpoint of this run, -1: none

 private:
  PsClient* ps_;
  bool enabled_;
  CheckpointPolicy policy_;
  spdlog::logger* log_;
  int64_t failures_ = 0;
  int64_t last_ = -1;
};

}  // namespace flowps

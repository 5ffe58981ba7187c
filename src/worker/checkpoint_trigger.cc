#include "worker/checkpoint_trigger.h"

#include <spdlog/logger.h>

#include <kj/debug.h>

#include "net/ps_client.h"

namespace flowps {

bool CheckpointPolicy::Due(int64_t step, Clock::time_point now) const {
  if (every_steps_ > 0 && step - last_step_ >= every_steps_) return true;
  return every_seconds_ > 0 && std::chrono::duration<double>(now - last_time_).count() >= every_seconds_;
}

CheckpointTrigger::CheckpointTrigger(PsClient* ps, const CheckpointSpec& spec, spdlog::logger* log)
    : ps_(ps), enabled_(!spec.dir.empty()), policy_(spec.every_steps, spec.every_seconds), log_(log) {}

void CheckpointTrigger::Start(int64_t step) { policy_.Saved(step, CheckpointPolicy::Clock::now()); }

kj::Promise<void> CheckpointTrigger::AtStep(int64_t step) {
  if (!enabled_ || !policy_.Due(step, CheckpointPolicy::Clock::now())) return kj::READY_NOW;
  return ps_->Checkpoint(step).then(
      [this, step]() {
        policy_.Saved(step, CheckpointPolicy::Clock::now());
        last_ = step;
        log_->info("checkpoint {} written by every ps shard", step);
      },
      [this, step](kj::Exception&& e) {
        // Tried: the next try is one interval on, not at the next step.
        policy_.Saved(step, CheckpointPolicy::Clock::now());
        ++failures_;
        log_->error("checkpoint {} failed ({} so far); training goes on, the newest complete checkpoint is {}, and "
                    "the next one is tried at the next interval: {}",
                    step, failures_, last_ >= 0 ? std::to_string(last_) : std::string("the one restored, if any"),
                    e.getDescription().cStr());
      });
}

kj::Promise<void> CheckpointTrigger::Final(int64_t step) {
  if (!enabled_) return kj::READY_NOW;
  return ps_->Checkpoint(step).then([this, step]() -> kj::Promise<void> {
                                      last_ = step;
                                      return kj::READY_NOW;
                                    },
                                    [this, step](kj::Exception&& e) -> kj::Promise<void> {
                                      ++failures_;
                                      return KJ_EXCEPTION(FAILED, kj::str("the final checkpoint ", step, " failed (",
                                                                          e.getDescription(), "); the newest complete checkpoint is ",
                                                                          last_));
                                    });
}

}  // namespace flowps

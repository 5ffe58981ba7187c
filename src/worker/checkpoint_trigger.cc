#include "worker/checkpoint_trigger.h"

#include <spdlog/logger.h>

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
  return ps_->Checkpoint(step).then([this, step]() {
    policy_.Saved(step, CheckpointPolicy::Clock::now());
    log_->info("checkpoint {} written by every ps shard", step);
  });
}

kj::Promise<void> CheckpointTrigger::Final(int64_t step) {
  if (!enabled_) return kj::READY_NOW;
  return ps_->Checkpoint(step);
}

}  // namespace flowps

#include "worker/ps_parameter_source.h"

#include "net/ps_client.h"

namespace flowps {

PsParameterSource::PsParameterSource(PsClient* ps, int32_t worker, bool sync, std::vector<std::string> names)
    : ps_(ps), worker_(worker), sync_(sync), names_(std::move(names)) {}

kj::Promise<PulledVariables> PsParameterSource::Pull() { return ps_->Pull(names_); }

kj::Promise<PushPullResult> PsParameterSource::PushPull(std::vector<int64_t> from_steps,
                                                        std::vector<VariableGradient> grads) {
  std::vector<int64_t> next = from_steps;
  for (int64_t& step : next) ++step;
  return ps_->Push(worker_, std::move(from_steps), std::move(grads))
      .then([this, next = std::move(next)](std::vector<ShardPushReply> pushed) mutable {
        kj::Promise<void> released = kj::READY_NOW;
        if (sync_) released = ps_->WaitForStep(std::move(next)).ignoreResult();
        return released.then([this]() { return ps_->Pull(names_); })
            .then([pushed = std::move(pushed)](PulledVariables pulled) mutable {
              return PushPullResult{std::move(pushed), std::move(pulled)};
            });
      });
}

}  // namespace flowps

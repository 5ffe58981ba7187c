#include "worker/ps_parameter_source.h"

#include "net/ps_client.h"

namespace flowps {

PsParameterSource::PsParameterSource(PsClient* ps, int32_t worker, std::vector<std::string> names)
    : ps_(ps), worker_(worker), names_(std::move(names)) {}

kj::Promise<PulledVariables> PsParameterSource::Pull() { return ps_->Pull(names_); }

kj::Promise<PushPullResult> PsParameterSource::PushPull(std::vector<int64_t> from_steps,
                                                        std::vector<VariableGradient> grads,
                                                        std::vector<TableLookupRequest> next_tables,
                                                        const TraceContext& trace) {
  last_steps_.resize(from_steps.size(), -1);
  last_seqs_.resize(from_steps.size(), 0);
  for (size_t k = 0; k < from_steps.size(); ++k) {
    last_seqs_[k] = from_steps[k] == last_steps_[k] ? last_seqs_[k] + 1 : 0;
    last_steps_[k] = from_steps[k];
  }
  return ps_->PushPull(worker_, std::move(from_steps), std::move(grads), PullSpec{names_, {}, std::move(next_tables)},
                       trace, last_seqs_);
}

}  // namespace flowps

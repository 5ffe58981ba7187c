// PsParameterSource: the ParameterSource of a distributed worker, over its
// PsClient (net/ps_client.h).
//
// PushPull is today three calls per shard: Push, then in sync mode
// WaitForStep(from + 1), then Pull of every variable. This class is the one
// place that knows; when PsClient::PushPull (one round trip per shard, issue
// 10) lands, PushPull becomes
//     return ps_->PushPull(worker_, from, grads, PullSpec{names_, {}});
//
// Threads: the PsClient's (the job thread). The PsClient must outlive it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "worker/training_loop.h"

namespace flowps {

class PsClient;

class PsParameterSource final : public ParameterSource {
 public:
  // `names`: every variable the worker reads, whole.
  PsParameterSource(PsClient* ps, int32_t worker, bool sync, std::vector<std::string> names);

  kj::Promise<PulledVariables> Pull() override;
  kj::Promise<PushPullResult> PushPull(std::vector<int64_t> from_steps, std::vector<VariableGradient> grads) override;

 private:
  PsClient* ps_;
  int32_t worker_;
  bool sync_;
  std::vector<std::string> names_;
};

}  // namespace flowps

// PsParameterSource: the ParameterSource of a distributed worker, over its
// PsClient (net/ps_client.h).
//
// One round trip per shard and step: PsClient::PushPull, reading back every
// variable whole (sync: the values of the next step, once released; async:
// the current values) and the rows of the next batch's table keys. The first
// pull of a job (and after a reconnect) is PsClient::Pull.
//
// Each push carries, per shard, its seq: 0 when it was computed from a
// different step than this source's previous push to that shard, else the
// previous seq + 1 (prefetch computes a step from the parameters the previous
// push was computed from). The shard tells the two apart by it, and a resend
// of one (PsClient, after a broken connection) by its same (step, seq).
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
  PsParameterSource(PsClient* ps, int32_t worker, std::vector<std::string> names);

  kj::Promise<PulledVariables> Pull() override;
  kj::Promise<PushPullResult> PushPull(std::vector<int64_t> from_steps, std::vector<VariableGradient> grads,
                                       std::vector<TableLookupRequest> next_tables, const TraceContext& trace) override;

 private:
  PsClient* ps_;
  int32_t worker_;
  std::vector<std::string> names_;
  std::vector<int64_t> last_steps_;  // per shard: the step the previous push was computed from
  std::vector<uint32_t> last_seqs_;  // per shard: its seq
};

}  // namespace flowps

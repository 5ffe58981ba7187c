// Rendezvous: where a Send meets its Recv, keyed by (step, key).
//
// Each key carries at most one value per step: a second Send of the same key in
// the same step is refused. A Recv that comes first waits (asynchronously: its
// callback runs when the value arrives) and never blocks a thread. Abort(step)
// fails every waiter of that step at once and every later Send/Recv of it,
// until EndStep(step) forgets the step. An interface so that a remote
// rendezvous (over the network) can replace the local one.
// Thread safety: every method may be called from any thread. Callbacks run
// on the calling thread of the Send or Abort that completes them (or inline in
// RecvAsync when the value is already there), never under a lock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "core/tensor.h"
#include "graph/kernel_services.h"

namespace flowps {

class Rendezvous {
 public:
  using RecvCallback = std::function<void(StatusOr<Tensor>)>;
  virtual ~Rendezvous() = default;

  virtual Status Send(int64_t step, const std::string& key, Tensor value) = 0;
  virtual void RecvAsync(int64_t step, const std::string& key, RecvCallback done) = 0;
  // Fails the step's waiters and its later calls with `status` (not OK).
  virtual void Abort(int64_t step, const Status& status) = 0;
  // Drops what the step left (values never received, the abort status).
  virtual void EndStep(int64_t step) = 0;
};

// A rendezvous within one process.
std::unique_ptr<Rendezvous> NewLocalRendezvous();

// The Send/Recv of one step through a rendezvous: what a step's
// StepServices (graph/variable_store.h) combine with a VariableStore.
// REQUIRES: the rendezvous outlives this object.
class RendezvousTransfer final : public TensorTransfer {
 public:
  RendezvousTransfer(Rendezvous* rendezvous, int64_t step) : rendezvous_(rendezvous), step_(step) {}
  Status Send(const std::string& key, Tensor value) override {
    return rendezvous_->Send(step_, key, std::move(value));
  }
  void RecvAsync(const std::string& key, std::function<void(StatusOr<Tensor>)> done) override {
    rendezvous_->RecvAsync(step_, key, std::move(done));
  }

 private:
  Rendezvous* rendezvous_;
  int64_t step_;
};

}  // namespace flowps

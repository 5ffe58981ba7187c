#include "graph/rendezvous.h"

#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace flowps {
namespace {

class LocalRendezvous final : public Rendezvous {
 public:
  Status Send(int64_t step, const std::string& key, Tensor value) override {
    RecvCallback waiter;
    {
      std::lock_guard<std::mutex> lock(mu_);
      StepState& st = steps_[step];
      if (!st.aborted.ok()) return st.aborted;
      Slot& slot = st.slots[key];
      if (slot.sent) return AlreadyExists("rendezvous key '" + key + "' was already sent in step " + std::to_string(step));
      slot.sent = true;
      if (slot.waiter) {
        waiter = std::move(slot.waiter);
        slot.waiter = nullptr;
      } else {
        slot.value = std::move(value);
        slot.has_value = true;
      }
    }
    if (waiter) waiter(std::move(value));
    return Status::OK();
  }

  void RecvAsync(int64_t step, const std::string& key, RecvCallback done) override {
    StatusOr<Tensor> ready = Status();
    bool now = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      StepState& st = steps_[step];
      Slot& slot = st.slots[key];
      if (!st.aborted.ok()) {
        ready = st.aborted;
        now = true;
      } else if (slot.waiter || slot.received) {
        ready = AlreadyExists("rendezvous key '" + key + "' already has a receiver in step " + std::to_string(step));
        now = true;
      } else if (slot.has_value) {
        ready = std::move(slot.value);
        slot.value = Tensor();
        slot.has_value = false;
        slot.received = true;
        now = true;
      } else {
        slot.waiter = std::move(done);
        slot.received = true;
      }
    }
    if (now) done(std::move(ready));
  }

  void Abort(int64_t step, const Status& status) override {
    std::vector<RecvCallback> waiters;
    {
      std::lock_guard<std::mutex> lock(mu_);
      StepState& st = steps_[step];
      if (!st.aborted.ok()) return;
      st.aborted = status.ok() ? Aborted("step aborted") : status;
      for (auto& [key, slot] : st.slots)
        if (slot.waiter) {
          waiters.push_back(std::move(slot.waiter));
          slot.waiter = nullptr;
        }
    }
    for (auto& w : waiters) w(status.ok() ? Aborted("step aborted") : status);
  }

  void EndStep(int64_t step) override {
    std::lock_guard<std::mutex> lock(mu_);
    steps_.erase(step);
  }

 private:
  struct Slot {
    bool sent = false;
    bool received = false;
    bool has_value = false;
    Tensor value;
    RecvCallback waiter;
  };
  struct StepState {
    Status aborted;
    std::map<std::string, Slot> slots;
  };
  std::mutex mu_;  // guards steps_
  std::map<int64_t, StepState> steps_;
};

}  // namespace

std::unique_ptr<Rendezvous> NewLocalRendezvous() { return std::make_unique<LocalRendezvous>(); }

}  // namespace flowps

#include "graph/variable_store.h"

namespace flowps {

void VariableStore::Set(const std::string& name, Tensor value) {
  std::lock_guard<std::mutex> lock(mu_);
  vars_[name] = std::move(value);
}

StatusOr<Tensor> VariableStore::Read(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = vars_.find(name);
  if (it == vars_.end()) return NotFound("variable '" + name + "' does not exist (was it initialised?)");
  return it->second;
}

bool VariableStore::Contains(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  return vars_.count(name) > 0;
}

std::vector<std::string> VariableStore::Names() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, value] : vars_) names.push_back(name);
  return names;
}

Status VariableStore::Commit(const std::map<std::string, Tensor>& writes) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, value] : writes) {
    auto it = vars_.find(name);
    if (it == vars_.end()) return NotFound("variable '" + name + "' does not exist");
    FLOWPS_RETURN_IF_ERROR(value.Check(it->second.dtype(), it->second.shape(), "new value of variable '" + name + "'"));
  }
  for (const auto& [name, value] : writes) vars_[name] = value;
  return Status::OK();
}

StatusOr<Tensor> StepServices::ReadVariable(const std::string& name) {
  if (store_ == nullptr) return FailedPrecondition("variable '" + name + "' read, but the step has no variable store");
  return store_->Read(name);
}

Status StepServices::StageAssign(const std::string& name, Tensor value) {
  if (store_ == nullptr) return FailedPrecondition("variable '" + name + "' assigned, but the step has no variable store");
  FLOWPS_ASSIGN_OR_RETURN(Tensor current, store_->Read(name));
  FLOWPS_RETURN_IF_ERROR(value.Check(current.dtype(), current.shape(), "new value of variable '" + name + "'"));
  std::lock_guard<std::mutex> lock(mu_);
  if (!staged_.emplace(name, std::move(value)).second)
    return InvalidArgument("variable '" + name + "' is assigned twice in one step");
  return Status::OK();
}

Status StepServices::Send(const std::string& key, Tensor value) {
  if (transfer_ == nullptr) return FailedPrecondition("Send of '" + key + "', but the step has no rendezvous");
  return transfer_->Send(key, std::move(value));
}

void StepServices::RecvAsync(const std::string& key, std::function<void(StatusOr<Tensor>)> done) {
  if (transfer_ == nullptr) {
    done(FailedPrecondition("Recv of '" + key + "', but the step has no rendezvous"));
    return;
  }
  transfer_->RecvAsync(key, std::move(done));
}

Status StepServices::CommitStaged() {
  std::lock_guard<std::mutex> lock(mu_);
  if (staged_.empty()) return Status::OK();
  if (store_ == nullptr) return FailedPrecondition("no variable store to commit to");
  return store_->Commit(staged_);
}

}  // namespace flowps

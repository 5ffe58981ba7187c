#include "worker/local_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "graph/device.h"
#include "graph/device_name.h"
#include "graph/gradient_clipping.h"
#include "graph/gradients.h"
#include "graph/model_roles.h"
#include "graph/ops.h"
#include "graph/partition.h"
#include "graph/partitioned_runner.h"
#include "graph/placement.h"
#include "worker/replica_devices.h"

namespace flowps {
namespace {

// Whether `feeds` feeds node `n`'s output 0 (a state's initial Placeholder).
bool Feeds(const FeedList& feeds, const Node* n) {
  return std::any_of(feeds.begin(), feeds.end(), [n](const auto& feed) { return feed.first.node == n; });
}

// The zero state of a state role's initial Placeholder [-1, ...] for `rows` rows.
Tensor ZeroState(const Node& initial, int64_t rows) {
  std::vector<int64_t> dims = initial.output_shape(0).dims();
  dims[0] = rows;
  return Tensor::Zeros(DType::kFloat32, Shape(dims));
}

}  // namespace

LocalModel::LocalModel(OptimizerConfig config, ThreadPool* pool) : optimizer_(config), pool_(pool) {}
LocalModel::~LocalModel() = default;

StatusOr<std::unique_ptr<LocalModel>> LocalModel::Create(const ModelSpec& spec, const OptimizerConfig& optimizer,
                                                         ThreadPool* pool, const TowerOptions& towers) {
  FLOWPS_RETURN_IF_ERROR(optimizer.Validate());
  std::unique_ptr<LocalModel> m(new LocalModel(optimizer, pool));
  FLOWPS_RETURN_IF_ERROR(RegisterStandardOps(&m->registry_));
  if (towers.register_kernels) FLOWPS_RETURN_IF_ERROR(towers.register_kernels(&m->registry_));
  FLOWPS_ASSIGN_OR_RETURN(m->model_, BuildModel(spec, &m->registry_));
  std::vector<Output> reads;
  for (const ModelVariable& v : m->model_.variables) reads.push_back(v.read);
  auto grads = Gradients(m->model_.loss, reads);
  if (!grads.ok()) return grads.status().WithContext("adding gradients");
  if (optimizer.clip_norm > 0) {
    *grads = ClipByGlobalNorm(*grads, static_cast<float>(optimizer.clip_norm)).grads;
    FLOWPS_RETURN_IF_ERROR(m->model_.graph->status().WithContext("clipping the gradients"));
  }
  m->fetches_ = {m->model_.loss};
  for (size_t i = 0; i < reads.size(); ++i) {
    const ModelVariable& mv = m->model_.variables[i];
    // The drawn initial value becomes the variable (no second copy of the model).
    TrainedVariable v{mv.name, mv.initial_value, {}, (*grads)[i]};  // slots: at the first Step()
    v.dtype = mv.initial_value.dtype();
    v.shape = mv.initial_value.shape();
    if (!v.grad.valid()) return InvalidArgument("the loss does not depend on variable '" + v.name + "'");
    auto add_fetch = [&](Output o) {
      m->fetches_.push_back(o);
      return static_cast<int>(m->fetches_.size()) - 1;
    };
    if (v.grad.sparse()) {
      v.indices_fetch = add_fetch(v.grad.indices);
      v.values_fetch = add_fetch(v.grad.values);
    } else {
      v.dense_fetch = add_fetch(v.grad.dense);
    }
    m->store_.Set(v.name, v.value);
    m->vars_.push_back(std::move(v));
  }
  for (const StateRole& s : m->model_.graph->roles().states) {
    m->fetches_.push_back(s.final);
    m->states_.push_back({s.initial, s.final, static_cast<int>(m->fetches_.size()) - 1, {}, {}});
  }
  for (const TableInput& t : m->model_.tables) m->tables_.push_back(TrainedVariable{t.table, Tensor(), {}, GradValue{}});
  if (!m->tables_.empty() && towers.devices.size() > 1)
    return InvalidArgument("a model with embedding tables trains on one tower, not " +
                           std::to_string(towers.devices.size()));
  m->executor_ = std::make_unique<Executor>(*m->model_.graph, pool);
  m->model_parallel_ = AsksForDevices(*m->model_.graph);
  FLOWPS_RETURN_IF_ERROR(m->BuildTowers(towers, spec.soft_placement)
                             .WithContext(m->model_parallel_ ? "placing the model-parallel replica" : "building the towers"));
  return m;
}

StatusOr<std::string> LocalModel::TowerNodeDevice(const Node& n, const std::string& host) const {
  if (n.op() == "Placeholder" && !IsStateInput(*model_.graph, n)) return host;
  if (!model_parallel_ || n.requested_device().empty()) return std::string();
  FLOWPS_ASSIGN_OR_RETURN(DeviceName on, ParseDeviceName(host));
  return ReplicaDevice(n, on);
}

Status LocalModel::SetUpDevices(const TowerOptions& towers, bool soft_placement,
                                std::map<std::string, Device*>* devices, std::string* host) {
  tower_devices_ = towers.devices;
  if (tower_devices_.empty()) {
    own_device_ = std::make_unique<CpuDevice>("/job:worker/task:0/device:cpu:0");
    tower_devices_ = {own_device_.get()};
  }
  // Feeds and variables live on a host CPU device: the first tower's when it
  // is a CPU, else its task's cpu:0.
  for (Device* d : tower_devices_) {
    if (!devices->emplace(d->name(), d).second) return InvalidArgument("device '" + d->name() + "' is named twice");
  }
  *host = tower_devices_[0]->name();
  if (tower_devices_[0]->type() != DeviceType::kCPU) {
    FLOWPS_ASSIGN_OR_RETURN(DeviceName first, ParseDeviceName(*host));
    *host = first.TaskName() + "/device:cpu:0";
    if (devices->count(*host) == 0) {
      own_device_ = std::make_unique<CpuDevice>(*host);
      (*devices)[*host] = own_device_.get();
    }
  }
  if (!model_parallel_ || soft_placement) return Status::OK();
  std::vector<std::string> names = {*host};  // the first: requests are read relative to it
  for (const auto& [name, device] : *devices)
    if (name != *host) names.push_back(name);
  return CheckReplicaDevices(*model_.graph, names, towers.stand_ins);
}

Status LocalModel::BuildTowers(const TowerOptions& towers, bool soft_placement) {
  std::map<std::string, Device*> devices;
  std::string host;
  FLOWPS_RETURN_IF_ERROR(SetUpDevices(towers, soft_placement, &devices, &host));

  // One copy of the model per tower; the Variable nodes are shared.
  FLOWPS_ASSIGN_OR_RETURN(std::vector<Node*> order, TopologicalOrder(*model_.graph));
  tower_graph_ = std::make_unique<Graph>(&registry_);
  Graph& g = *tower_graph_;
  std::map<const Node*, Node*> shared;  // model Variable -> tower graph Variable
  {
    DeviceScope on_host(g, host);
    for (Node* n : order) {
      if (n->op() != "Variable") continue;
      shared[n] = g.AddNodeOrRecord(NodeSpec{n->op(), n->name(), {}, {}, n->attrs(), ""});
    }
  }
  FLOWPS_RETURN_IF_ERROR(g.status());
  // A model-parallel model is one replica over all the devices.
  const size_t n_towers = model_parallel_ ? 1 : tower_devices_.size();
  std::vector<Tower> built;
  for (size_t t = 0; t < n_towers; ++t) {
    FLOWPS_ASSIGN_OR_RETURN(Tower tower, AddTower(t, order, shared, host));
    built.push_back(std::move(tower));
  }
  FLOWPS_ASSIGN_OR_RETURN(std::vector<std::string> fetches, FetchTowerSums(built, host));

  PlacementOptions placement;
  placement.default_device = host;
  for (const auto& [name, device] : devices) placement.worker_devices.push_back(name);
  placement.stand_ins = towers.stand_ins;
  placement.soft_placement = soft_placement;
  FLOWPS_RETURN_IF_ERROR(PlaceGraph(&g, placement, &soft_placed_));
  FLOWPS_ASSIGN_OR_RETURN(tower_runner_, PartitionedRunner::Create(g, fetches, {}, pool_, devices));
  return Status::OK();
}

StatusOr<LocalModel::Tower> LocalModel::AddTower(size_t t, const std::vector<Node*>& order,
                                                 const std::map<const Node*, Node*>& shared, const std::string& host) {
  Graph& g = *tower_graph_;
  const std::string prefix = "tower" + std::to_string(t) + "/";
  std::map<const Node*, Node*> copy = shared;
  auto mapped = [&](const Output& o) { return Output{copy.at(o.node), o.index}; };
  for (Node* n : order) {
    if (copy.count(n) != 0) continue;
    FLOWPS_ASSIGN_OR_RETURN(std::string device, TowerNodeDevice(*n, host));
    NodeSpec spec{n->op(), prefix + n->name(), {}, {}, n->attrs(), device};
    for (const Output& in : n->inputs()) spec.inputs.push_back(mapped(in));
    for (Node* c : n->control_inputs()) spec.control_inputs.push_back(copy.at(c));
    DeviceScope on_tower(g, tower_devices_[t]->name());
    Node* added = g.AddNodeOrRecord(std::move(spec));
    if (added == nullptr) return g.status();
    copy[n] = added;
  }
  Output weight;
  {
    DeviceScope on_host(g, host);
    weight = Placeholder(g, DType::kFloat32, Shape{}, prefix + "weight");
  }
  tower_feeds_.push_back({prefix, weight.name()});
  // The tower's loss scaled by its share of the batch: its gradients come
  // out scaled (a scalar on the backward pass), so averaging is a sum.
  DeviceScope on_tower(g, tower_devices_[t]->name());
  Tower tower;
  tower.loss = mapped(model_.loss) * weight;
  std::vector<Output> xs;  // the variables' reads (shared), then the tables' rows
  for (const ModelVariable& v : model_.variables) xs.push_back(Output{shared.at(v.read.node), v.read.index});
  for (const TableInput& table : model_.tables) xs.push_back(mapped(table.rows));
  auto grads = Gradients(tower.loss, xs);
  if (!grads.ok()) return grads.status().WithContext("tower " + std::to_string(t));
  tower.grads = std::move(*grads);
  for (const StateSlot& s : states_) tower.final_states.push_back(mapped(s.final));
  return tower;
}

StatusOr<std::vector<GradValue>> LocalModel::SumTowerGradients(const std::vector<Tower>& towers) const {
  std::vector<GradValue> summed(vars_.size());
  for (size_t i = 0; i < vars_.size(); ++i) {
    const TrainedVariable& v = vars_[i];
    for (size_t t = 0; t < towers.size(); ++t)
      if (towers[t].grads[i].sparse() != v.grad.sparse())
        return Internal("tower " + std::to_string(t) + " differs from the model in the gradient of '" + v.name + "'");
    summed[i] = towers[0].grads[i];
    if (towers.size() == 1) continue;
    if (v.grad.sparse()) {  // the rows of every tower
      std::vector<Output> indices, values;
      for (const Tower& t : towers) {
        indices.push_back(t.grads[i].indices);
        values.push_back(t.grads[i].values);
      }
      summed[i].indices = Concat(indices, 0);
      summed[i].values = Concat(values, 0);
    } else {
      for (size_t t = 1; t < towers.size(); ++t) summed[i].dense = summed[i].dense + towers[t].grads[i].dense;
    }
  }
  return summed;
}

StatusOr<std::vector<std::string>> LocalModel::FetchTowerSums(const std::vector<Tower>& towers,
                                                              const std::string& host) {
  // The weighted average (the sum of the scaled towers) on the first device;
  // each fetched through an Identity on the host.
  Graph& g = *tower_graph_;
  std::vector<Output> fetches;
  auto fetch = [&](Output averaged) {
    DeviceScope on_host(g, host);
    fetches.push_back(Identity(averaged));
    return static_cast<int>(fetches.size()) - 1;
  };
  DeviceScope on_first(g, tower_devices_[0]->name());
  Output loss = towers[0].loss;
  for (size_t t = 1; t < towers.size(); ++t) loss = loss + towers[t].loss;
  fetch(loss);
  FLOWPS_ASSIGN_OR_RETURN(std::vector<GradValue> summed, SumTowerGradients(towers));
  // optimizer.clip_norm: the batch's (averaged) gradients clipped together.
  if (optimizer_.config().clip_norm > 0)
    summed = ClipByGlobalNorm(summed, static_cast<float>(optimizer_.config().clip_norm)).grads;
  for (size_t i = 0; i < vars_.size(); ++i) {
    TrainedVariable& v = vars_[i];
    if (v.grad.sparse()) {
      v.tower_indices = fetch(summed[i].indices);
      v.tower_values = fetch(summed[i].values);
    } else {
      v.tower_dense = fetch(summed[i].dense);
    }
  }
  for (size_t i = 0; i < tables_.size(); ++i) {
    const GradValue& grad = towers[0].grads[vars_.size() + i];
    if (!grad.valid()) return InvalidArgument("the loss does not depend on embedding table '" + tables_[i].name + "'");
    if (grad.sparse()) {
      tables_[i].tower_indices = fetch(grad.indices);
      tables_[i].tower_values = fetch(grad.values);
    } else {
      tables_[i].tower_dense = fetch(grad.dense);
    }
  }
  // Each tower's final states, fetched where they are computed (no copy to the host).
  for (const Tower& t : towers)
    for (size_t i = 0; i < states_.size(); ++i) {
      states_[i].tower_fetch.push_back(static_cast<int>(fetches.size()));
      fetches.push_back(t.final_states[i]);
    }
  FLOWPS_RETURN_IF_ERROR(g.status());
  std::vector<std::string> names;
  for (const Output& o : fetches) names.push_back(o.name());
  return names;
}

const std::map<std::string, std::unique_ptr<Graph>>& LocalModel::tower_partitions() const {
  return tower_runner_->partitions();
}

StatusOr<double> LocalModel::Step(const Tensor& images, const Tensor& labels) {
  if (!model_.x.valid() || !model_.y.valid())
    return FailedPrecondition("the model has no placeholders x and y: feed it by name");
  return RunStep({{model_.x, images}, {model_.y, labels}});
}

StatusOr<FeedList> LocalModel::ResolveFeeds(const std::vector<std::pair<std::string, Tensor>>& feeds) const {
  FeedList out;
  for (const auto& [name, value] : feeds) {
    Node* n = model_.graph->FindNode(name);
    if (n == nullptr || n->op() != "Placeholder") return InvalidArgument("the model has no placeholder '" + name + "'");
    out.push_back({Output{n, 0}, value});
  }
  return out;
}

StatusOr<double> LocalModel::Step(const std::vector<std::pair<std::string, Tensor>>& feeds) {
  FLOWPS_ASSIGN_OR_RETURN(FeedList resolved, ResolveFeeds(feeds));
  return RunStep(resolved);
}

StatusOr<std::vector<Tensor>> LocalModel::Fetch(const std::vector<std::pair<std::string, Tensor>>& feeds,
                                                 const std::vector<Output>& fetches) {
  FLOWPS_ASSIGN_OR_RETURN(FeedList resolved, ResolveFeeds(feeds));
  FLOWPS_RETURN_IF_ERROR(CheckHeld());
  FLOWPS_ASSIGN_OR_RETURN(std::vector<Tensor> out,
                          executor_->Run(WithStates(std::move(resolved), false), fetches, {}, StepOptions{&store_, nullptr}));
  Unalias(&out);
  return out;
}

StatusOr<std::vector<Tensor>> LocalModel::Fetch(const std::vector<std::pair<std::string, Tensor>>& feeds,
                                                 const std::vector<Output>& fetches, std::vector<Tensor>* state) {
  FLOWPS_ASSIGN_OR_RETURN(FeedList resolved, ResolveFeeds(feeds));
  FLOWPS_RETURN_IF_ERROR(CheckHeld());
  const int64_t rows = resolved.empty() || resolved[0].second.shape().rank() < 1 ? -1 : resolved[0].second.shape().dim(0);
  std::vector<Output> all = fetches;
  for (size_t i = 0; i < states_.size(); ++i) {
    if (!Feeds(resolved, states_[i].initial) && i < state->size() && (*state)[i].valid() &&
        (*state)[i].shape().dim(0) == rows)
      resolved.push_back({Output{states_[i].initial, 0}, (*state)[i]});
    all.push_back(states_[i].final);
  }
  FLOWPS_ASSIGN_OR_RETURN(std::vector<Tensor> out,
                          executor_->Run(WithStates(std::move(resolved), false), all, {}, StepOptions{&store_, nullptr}));
  Unalias(&out);
  state->assign(out.begin() + static_cast<std::ptrdiff_t>(fetches.size()), out.end());
  out.resize(fetches.size());
  return out;
}

void LocalModel::set_carry_state(bool on) {
  carry_state_ = on;
  ResetState();
}

void LocalModel::ResetState() {
  for (StateSlot& s : states_) s.value.clear();
}

void LocalModel::ContinueStreams(int64_t epoch) {
  if (epoch != stream_epoch_) ResetState();
  stream_epoch_ = epoch;
}

StatusOr<Tensor> LocalModel::CarriedState(const std::string& initial) const {
  for (const StateSlot& s : states_)
    if (s.initial->name() == initial) return s.value.empty() ? Tensor() : s.value[0];
  return NotFound("the model carries no state '" + initial + "'");
}

Tensor LocalModel::StateFeed(const StateSlot& s, size_t tower, int64_t rows) const {
  if (carry_state_ && tower < s.value.size() && s.value[tower].valid() && s.value[tower].shape().dim(0) == rows)
    return s.value[tower];
  return ZeroState(*s.initial, rows);
}

FeedList LocalModel::WithStates(FeedList feeds, bool carried) const {
  if (feeds.empty() || feeds[0].second.shape().rank() < 1) return feeds;  // no batch: nothing fed needs a state
  const int64_t rows = feeds[0].second.shape().dim(0);
  for (const StateSlot& s : states_) {
    if (!Feeds(feeds, s.initial))
      feeds.push_back({Output{s.initial, 0}, carried ? StateFeed(s, 0, rows) : ZeroState(*s.initial, rows)});
  }
  return feeds;
}

StatusOr<double> LocalModel::RunStep(const FeedList& feeds) {
  FLOWPS_RETURN_IF_ERROR(CheckHeld());
  FLOWPS_ASSIGN_OR_RETURN(std::vector<Tensor> out,
                          executor_->Run(WithStates(feeds, true), fetches_, {}, StepOptions{&store_, nullptr}));
  double loss = out[0].data<float>()[0];
  if (!std::isfinite(loss))
    return FailedPrecondition("the loss is " + std::to_string(loss) + " at step " + std::to_string(step_ + 1) +
                              "; lower optimizer.learning_rate");
  ++step_;
  if (carry_state_)
    for (StateSlot& s : states_) s.value = {out[static_cast<size_t>(s.fetch)]};
  for (TrainedVariable& v : vars_) {
    if (v.slots.empty()) v.slots = optimizer_.MakeSlots(v.value.shape());
    Status s = v.grad.sparse() ? optimizer_.ApplySparse(v.value, v.slots, out[v.indices_fetch], out[v.values_fetch], step_)
                               : optimizer_.ApplyDense(v.value, v.slots, out[v.dense_fetch], step_, pool_);
    if (!s.ok()) return s.WithContext("step " + std::to_string(step_) + ": variable '" + v.name + "'");
  }
  return loss;
}

StatusOr<LocalModel::BatchGradients> LocalModel::ComputeGradients(const Tensor& images, const Tensor& labels) {
  if (!model_.x.valid() || !model_.y.valid())
    return FailedPrecondition("the model has no placeholders x and y: feed it by name");
  return ComputeGradients({{model_.x.node->name(), images}, {model_.y.node->name(), labels}});
}

StatusOr<LocalModel::BatchGradients> LocalModel::ComputeGradients(
    const std::vector<std::pair<std::string, Tensor>>& named, const TraceContext& trace) {
  FLOWPS_RETURN_IF_ERROR(ResolveFeeds(named).status());
  if (named.empty()) return InvalidArgument("a batch without feeds has no gradients");
  for (const auto& [name, value] : named)
    if (tables_.empty() && (value.shape().rank() < 1 || value.shape().dim(0) != named[0].second.shape().dim(0)))
      return InvalidArgument("feed '" + name + "' has shape " + value.shape().ToString() +
                             ": every feed's first dimension is the batch, " +
                             std::to_string(named[0].second.shape().dim(0)) + " for '" + named[0].first + "'");
  const int64_t batch = named[0].second.shape().dim(0);
  if (batch < 1) return InvalidArgument("an empty batch has no gradients");
  FLOWPS_RETURN_IF_ERROR(CheckHeld());
  const int64_t n = num_towers();
  const bool split = batch >= n && tables_.empty();
  std::vector<std::pair<std::string, Tensor>> feeds;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t begin = split ? batch * t / n : 0, end = split ? batch * (t + 1) / n : batch;
    const float weight = split ? static_cast<float>(end - begin) / static_cast<float>(batch) : 1.f / static_cast<float>(n);
    const TowerFeeds& names = tower_feeds_[static_cast<size_t>(t)];
    for (const auto& [name, value] : named)
      feeds.emplace_back(names.prefix + name, tables_.empty() ? value.Slice(begin, end) : value);
    for (const StateSlot& s : states_) {
      bool fed = false;
      for (const auto& given : named) fed = fed || given.first == s.initial->name();
      if (!fed) feeds.emplace_back(names.prefix + s.initial->name(), StateFeed(s, static_cast<size_t>(t), end - begin));
    }
    feeds.emplace_back(names.weight, Tensor::FromVector<float>(Shape{}, {weight}));
  }
  FLOWPS_ASSIGN_OR_RETURN(std::vector<Tensor> out, tower_runner_->Run(feeds, &store_, trace));
  Unalias(&out);
  BatchGradients result;
  result.loss = out[0].data<float>()[0];
  if (!std::isfinite(result.loss))
    return FailedPrecondition("the loss is " + std::to_string(result.loss) + "; lower optimizer.learning_rate");
  if (carry_state_)
    for (StateSlot& s : states_) {
      s.value.clear();
      for (int f : s.tower_fetch) s.value.push_back(out[static_cast<size_t>(f)]);
    }
  for (const TrainedVariable& v : vars_) {
    VariableGradient g;
    g.variable = v.name;
    g.sparse = v.grad.sparse();
    if (g.sparse) {
      const Tensor& idx = out[static_cast<size_t>(v.tower_indices)];
      for (int64_t i = 0; i < idx.num_elements(); ++i)
        g.rows.push_back(idx.dtype() == DType::kInt64 ? idx.data<int64_t>()[i] : idx.data<int32_t>()[i]);
      g.values = out[static_cast<size_t>(v.tower_values)];
    } else {
      g.values = out[static_cast<size_t>(v.tower_dense)];
    }
    result.grads.push_back(std::move(g));
  }
  for (const TrainedVariable& t : tables_) {
    VariableGradient g;
    g.variable = t.name;
    g.sparse = g.table = true;
    if (t.tower_dense >= 0) {  // [U, dim]: row i is position i
      g.values = out[static_cast<size_t>(t.tower_dense)];
      for (int64_t i = 0; i < g.values.shape().dim(0); ++i) g.rows.push_back(i);
    } else {
      const Tensor& idx = out[static_cast<size_t>(t.tower_indices)];
      for (int64_t i = 0; i < idx.num_elements(); ++i)
        g.rows.push_back(idx.dtype() == DType::kInt64 ? idx.data<int64_t>()[i] : idx.data<int32_t>()[i]);
      g.values = out[static_cast<size_t>(t.tower_values)];
    }
    result.grads.push_back(std::move(g));
  }
  return result;
}

Status LocalModel::CheckFit(const std::map<std::string, Tensor>& values) const {
  for (const TrainedVariable& v : vars_) {
    auto it = values.find(v.name);
    if (it == values.end()) continue;
    if (it->second.shape().dims() != v.shape.dims())
      return InvalidArgument("variable '" + v.name + "' has shape " + v.shape.ToString() + ", not " +
                             it->second.shape().ToString());
    if (it->second.dtype() != v.dtype)
      return InvalidArgument("variable '" + v.name + "' is " + DTypeName(v.dtype) + ", not " +
                             DTypeName(it->second.dtype()));
  }
  return Status::OK();
}

Status LocalModel::CheckHeld() const {
  for (const TrainedVariable& v : vars_)
    if (!v.value.valid())
      return FailedPrecondition("variable '" + v.name +
                                "' holds no value: the model released its variables and none were loaded since");
  return Status::OK();
}

void LocalModel::Unalias(std::vector<Tensor>* out) const {
  for (Tensor& t : *out) {
    if (!t.valid()) continue;
    for (const TrainedVariable& v : vars_)
      if (v.adopted.valid() && t.SharesBufferWith(v.value)) {
        t = t.Clone();
        break;
      }
  }
}

Status LocalModel::SetVariables(const std::map<std::string, Tensor>& values) {
  FLOWPS_RETURN_IF_ERROR(CheckFit(values));
  // Copied into the model's own buffers (made anew where the variable holds
  // none, or an adopted one): the caller may drop or reuse what it passed as
  // soon as this returns.
  for (TrainedVariable& v : vars_) {
    auto it = values.find(v.name);
    if (it == values.end() || (v.value.valid() && it->second.raw_data() == v.value.raw_data())) continue;
    if (!v.value.valid() || v.adopted.valid()) {
      v.value = Tensor(v.dtype, v.shape);
      v.adopted = Tensor();
      store_.Set(v.name, v.value);
    }
    std::memcpy(v.value.raw_data(), it->second.raw_data(), v.value.num_bytes());
  }
  return Status::OK();
}

void LocalModel::ForgetInitialValues() {
  for (ModelVariable& mv : model_.variables)
    if (mv.initial_value.valid() && mv.initial_value.raw_data() != nullptr)
      mv.initial_value = Tensor(mv.initial_value.dtype(), mv.initial_value.shape(),
                                Buffer::Wrap(nullptr, mv.initial_value.num_bytes(), nullptr));
}

Status LocalModel::AdoptVariables(std::map<std::string, Tensor> values) {
  FLOWPS_RETURN_IF_ERROR(CheckFit(values));
  ForgetInitialValues();  // they are the variables' first buffers, replaced here
  for (TrainedVariable& v : vars_) {
    auto it = values.find(v.name);
    if (it == values.end()) continue;
    // The executors see a view: the last reference to the adopted memory is
    // always this model's, dropped here or in ReleaseVariables on the caller's thread.
    Tensor adopted = std::move(it->second);
    v.value = Tensor(v.dtype, v.shape, Buffer::Wrap(adopted.raw_data(), adopted.num_bytes(), nullptr));
    v.adopted = std::move(adopted);  // the previous value goes here
    store_.Set(v.name, v.value);
  }
  return Status::OK();
}

void LocalModel::ReleaseVariables() {
  ForgetInitialValues();
  for (TrainedVariable& v : vars_) {
    v.value = Tensor();
    v.adopted = Tensor();
    store_.Set(v.name, Tensor());
  }
}

StatusOr<double> LocalModel::Evaluate(const data::Dataset& test) {
  if (!model_.x.valid() || !model_.logits.valid())
    return FailedPrecondition("the model is no image classifier (placeholder x, metric accuracy)");
  FLOWPS_RETURN_IF_ERROR(CheckHeld());
  constexpr int64_t kEvalBatch = 1000;
  int64_t correct = 0;
  for (int64_t begin = 0; begin < test.size(); begin += kEvalBatch) {
    int64_t end = std::min(test.size(), begin + kEvalBatch);
    FeedList feeds = {{model_.x, test.images.Slice(begin, end)}};
    FLOWPS_ASSIGN_OR_RETURN(auto out, executor_->Run(feeds, {model_.logits}, {}, StepOptions{&store_, nullptr}));
    correct += flowps::CountCorrect(out[0], test.labels.Slice(begin, end));
  }
  return test.size() > 0 ? static_cast<double>(correct) / static_cast<double>(test.size()) : 0.0;
}

int64_t LocalModel::num_parameters() const {
  int64_t n = 0;
  for (const TrainedVariable& v : vars_) n += v.shape.num_elements();
  return n;
}

}  // namespace flowps

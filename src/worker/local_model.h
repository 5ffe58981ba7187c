// LocalModel: a model trained in this process -- its graph with the gradients
// added, an Executor, the variables (in a VariableStore) and the optimizer
// state. Step() is one training step: forward, backward, and the optimizer
// applied to every variable (kernels/optimizers.h).
//
// A distributed worker uses the same model without the optimizer: it sets the
// values pulled from the ps (AdoptVariables), computes the gradients of a batch
// split into towers (ComputeGradients) and pushes them. The tower graph holds
// one copy of the model per device (TowerOptions), each placed on its device,
// reading the shared variables from a host CPU device; the towers' gradients
// are averaged on the first device. It is partitioned per device and run by a
// PartitionedRunner (graph/partitioned_runner.h): one executor per device,
// Send/Recv between them.
//
// A model whose nodes ask for devices (worker/replica_devices.h) is
// model-parallel instead: one replica, every node on the device it asks for
// among the tower devices (the rest, the feeds and the variables on the
// first), each op's gradient on its op's device; the batch goes whole to it.
// A request for a device that is not among them fails Create naming the node
// and op, unless the ModelSpec's soft_placement puts such nodes on the first
// device. The partitions run concurrently: a layer on one device computes
// while the next device works on what it sent earlier (pipelining).
//
// Used by `flowps train`, the workers and the `step` benchmark. Not
// thread-safe: one training loop drives it. Variable values are updated in
// place between steps, never while a step runs.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/job_spec.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/trace.h"
#include "core/variable_gradient.h"
#include "data/dataset.h"
#include "graph/executor.h"
#include "graph/op_registry.h"
#include "graph/variable_store.h"
#include "kernels/optimizers.h"
#include "worker/models.h"

namespace flowps {

class Device;
class PartitionedRunner;
class ThreadPool;

// The devices of a model's towers. Not owned: REQUIRES they outlive the model.
struct TowerOptions {
  // One tower per device ("/job:worker/task:0/device:cpu:1", ".../gpu:0");
  // the gradients are averaged on devices[0]. Empty: one tower on a CPU
  // device of the model's own, /job:worker/task:0/device:cpu:0.
  std::vector<Device*> devices;
  // Adds the kernels of the devices' types (e.g. RegisterCudaKernels) to the
  // model's registry, after the standard ops; empty when all are CPUs.
  std::function<Status(OpRegistry*)> register_kernels;
  // A device the task's spec names -> the device standing in for it (gpu:i
  // -> cpu:i on a machine without GPUs), for the requests of a model-parallel
  // model.
  std::map<std::string, std::string> stand_ins;
};

class LocalModel {
 public:
  // Builds the model (BuildModel: a built-in's graph, or the job's graph),
  // adds the gradients and sets every variable to its initial value, and the
  // tower graph over towers.devices. The variables take over the buffers of
  // model().variables[i].initial_value (one copy of the parameters, not
  // two): read only their shapes after training started. From the first
  // AdoptVariables or ReleaseVariables on, initial_value keeps its dtype and
  // shape but no memory (its data is null). Optimizer slots are
  // made at the first Step(), so a distributed worker has none.
  // REQUIRES: pool outlives the model.
  static StatusOr<std::unique_ptr<LocalModel>> Create(const ModelSpec& model, const OptimizerConfig& optimizer,
                                                      ThreadPool* pool, const TowerOptions& towers = {});
  ~LocalModel();
  LocalModel(const LocalModel&) = delete;
  LocalModel& operator=(const LocalModel&) = delete;

  // One training step on a batch (images float32 [b, 784], labels int32 [b]);
  // returns the batch's mean loss. A non-finite loss is FailedPrecondition and
  // leaves the variables as they were.
  StatusOr<double> Step(const Tensor& images, const Tensor& labels);
  // The same with the placeholders fed by name (placeholder name, tensor),
  // e.g. from a data pipeline's columns. InvalidArgument naming a name that
  // is not a placeholder of the model.
  StatusOr<double> Step(const std::vector<std::pair<std::string, Tensor>>& feeds);
  // The gradients of a batch's mean loss, without applying them. The batch is
  // split into one near-equal slice per tower device, each tower runs on its
  // device, and the gradients and losses are averaged on the first device,
  // weighted by slice size (a batch with fewer rows than towers goes whole to
  // every tower, weighted equally). Dense gradients have the variable's
  // shape; sparse ones are the towers' rows concatenated. A non-finite loss is
  // FailedPrecondition. Not to be called from a pool thread (it blocks).
  // A model that looks up embedding tables (model().tables) runs on one
  // tower, its feeds as they are (the table rows [U, dim], the ids' index and
  // the ragged batch's offsets have no common batch dimension), and its
  // gradients end with one per table (table = true, in model().tables order):
  // rows are positions into the fed rows, values [len(rows), dim].
  struct BatchGradients {
    double loss = 0;
    std::vector<VariableGradient> grads;  // one per variable, in model().variables order, then the tables
  };
  StatusOr<BatchGradients> ComputeGradients(const Tensor& images, const Tensor& labels);
  // The same with the placeholders fed by name (as Step): every feed is a
  // dense tensor whose first dimension is the batch, sliced per tower.
  // InvalidArgument naming a feed that is not a placeholder, or whose first
  // dimension differs from the others'.
  // With an active `trace`, the step's partitions and nodes are recorded on
  // their devices' tracks (PartitionedRunner::Run).
  StatusOr<BatchGradients> ComputeGradients(const std::vector<std::pair<std::string, Tensor>>& feeds,
                                            const TraceContext& trace = {});
  // Variable ownership. Each variable's value is a Tensor the model shares
  // with its executors' store; a step's kernels read it by reference. Between
  // steps (never while a step, Fetch or Evaluate runs) the values may be
  // replaced or released by the three calls below; each checks every value
  // (same shape and dtype as the variable) before changing anything, and
  // fails with InvalidArgument naming the first that does not fit.
  //  - SetVariables copies `values` into buffers the model owns; the caller
  //    keeps its tensors.
  //  - AdoptVariables makes `values` the variables themselves, without a
  //    copy (e.g. tensors that alias a received RPC response). The model
  //    keeps the adopted tensors and gives its executors only views of their
  //    memory, so a kernel never holds the last reference: the adopted
  //    tensors, and whatever they keep alive, are released only by the next
  //    AdoptVariables, SetVariables or ReleaseVariables, or the destructor --
  //    on the thread that calls it. A tensor a step returns never aliases an
  //    adopted value (one that would is copied), so it outlives the release.
  //  - ReleaseVariables releases every value (the memory goes back before the
  //    next values arrive). Until the next SetVariables or AdoptVariables,
  //    Step, ComputeGradients, Fetch and Evaluate fail with FailedPrecondition.
  // Variables missing from `values` keep their value.
  Status SetVariables(const std::map<std::string, Tensor>& values);
  Status AdoptVariables(std::map<std::string, Tensor> values);
  void ReleaseVariables();

  // The fraction of `test` classified correctly (an image classifier's
  // x and logits, see Model; FailedPrecondition for another graph).
  StatusOr<double> Evaluate(const data::Dataset& test);
  // The values of `fetches` (tensors of model().graph) for a batch fed by
  // name (as Step), with the variables as they are.
  StatusOr<std::vector<Tensor>> Fetch(const std::vector<std::pair<std::string, Tensor>>& feeds,
                                      const std::vector<Output>& fetches);
  // The same over a stream, with a state of the caller's own (e.g. an
  // evaluation over contiguous test data, leaving the training state alone):
  // each state role the caller does not feed starts from (*state)[i] when
  // that holds a value of the batch's rows, else from zeros, and *state
  // receives the final values (one per state role, GraphRoles::states order).
  StatusOr<std::vector<Tensor>> Fetch(const std::vector<std::pair<std::string, Tensor>>& feeds,
                                      const std::vector<Output>& fetches, std::vector<Tensor>* state);

  // Recurrent state (GraphRoles::states: truncated backpropagation through
  // time). Every run feeds each state's initial Placeholder that the caller
  // does not: while carrying, Step and ComputeGradients feed the value its
  // final had after the previous step on the same tower (the same rows of the
  // batch); otherwise zeros [rows, ...] -- at the first step, after
  // ResetState, when the batch's rows differ from the previous step's, when
  // not carrying, and always for Fetch. The state is this process's own: no
  // variable, never pushed or pulled. In the tower graph a state's
  // Placeholder sits on its layer's device (its request, in a model-parallel
  // replica; the tower's device otherwise), and the final value is fetched
  // from that device. Off by default.
  void set_carry_state(bool on);
  bool carries_state() const { return carry_state_; }
  size_t num_states() const { return states_.size(); }
  // Forgets the carried state: the next step starts from zeros.
  void ResetState();
  // Called with the epoch of each batch before its step: a batch of another
  // epoch than the previous one starts the data's streams again (ResetState).
  void ContinueStreams(int64_t epoch);
  // What the next step feeds state `initial` (its Placeholder's name) on the
  // first tower, or an invalid Tensor for zeros; NotFound for another name.
  StatusOr<Tensor> CarriedState(const std::string& initial) const;

  int64_t steps_done() const { return step_; }
  int64_t num_parameters() const;
  const Model& model() const { return model_; }
  // Data-parallel towers, or 1 for a model-parallel replica.
  int num_towers() const { return static_cast<int>(tower_feeds_.size()); }
  // True when the model's nodes ask for devices: one replica over the devices.
  bool model_parallel() const { return model_parallel_; }
  // One line per node that soft placement moved (PlaceGraph's soft_placed).
  const std::vector<std::string>& soft_placed() const { return soft_placed_; }
  // The tower graph's partitions, one per device, keyed by device name.
  const std::map<std::string, std::unique_ptr<Graph>>& tower_partitions() const;

 private:
  struct TrainedVariable {
    std::string name;
    Tensor value;  // shared with store_; invalid once released; a view of `adopted` when that is set
    std::vector<Tensor> slots;
    GradValue grad;
    int dense_fetch = -1, indices_fetch = -1, values_fetch = -1;  // positions in fetches_
    int tower_dense = -1, tower_indices = -1, tower_values = -1;  // positions in the tower runner's fetches
    Tensor adopted;  // AdoptVariables: the tensor that keeps value's memory (released on the caller's thread)
    DType dtype = DType::kFloat32;
    Shape shape;     // the variable's, also while it holds no value
  };
  // The inputs of one tower in the tower graph: its copy of placeholder p is
  // prefix + p; weight is its share of the batch.
  struct TowerFeeds {
    std::string prefix, weight;
  };
  // A state role, and what it carries into the next step.
  struct StateSlot {
    Node* initial = nullptr;  // in model_.graph
    Output final;
    int fetch = -1;                // position of final in fetches_ (Step)
    std::vector<int> tower_fetch;  // per tower: position in the tower runner's fetches
    std::vector<Tensor> value;     // per tower (Step: [0]); none or invalid: zeros
  };
  LocalModel(OptimizerConfig config, ThreadPool* pool);
  // The value to feed `s` for a slice of `rows` rows on tower t.
  Tensor StateFeed(const StateSlot& s, size_t tower, int64_t rows) const;
  // `feeds` plus a feed of every state the caller did not feed (carried, or zeros).
  FeedList WithStates(FeedList feeds, bool carried) const;
  StatusOr<FeedList> ResolveFeeds(const std::vector<std::pair<std::string, Tensor>>& feeds) const;
  // FailedPrecondition naming the first variable that holds no value (released).
  Status CheckHeld() const;
  // InvalidArgument naming the first of `values` that does not fit its variable.
  Status CheckFit(const std::map<std::string, Tensor>& values) const;
  // Lets the initial values' memory go, keeping their shapes (see Create).
  void ForgetInitialValues();
  // Copies each of `out` that aliases an adopted value (see AdoptVariables).
  void Unalias(std::vector<Tensor>* out) const;
  StatusOr<double> RunStep(const FeedList& feeds);
  // The tower graph (a copy of the model per tower device, or one replica
  // over every device when model-parallel, the Variables shared) and its runner.
  Status BuildTowers(const TowerOptions& towers, bool soft_placement);
  // One tower's copy in tower_graph_: its loss scaled by its weight feed,
  // the gradients of that loss (the variables', then the tables' rows) and
  // its final states.
  struct Tower {
    Output loss;
    std::vector<GradValue> grads;
    std::vector<Output> final_states;
  };
  // Adds tower t: copies of the model's nodes in `order` but the Variables
  // (`shared`, the tower graph's), and its weight placeholder on `host`.
  StatusOr<Tower> AddTower(size_t t, const std::vector<Node*>& order, const std::map<const Node*, Node*>& shared,
                           const std::string& host);
  // Each variable's gradient summed over the towers (sparse: their rows concatenated).
  StatusOr<std::vector<GradValue>> SumTowerGradients(const std::vector<Tower>& towers) const;
  // Adds what a step fetches -- the summed loss, the summed (and clipped)
  // gradients, the tables' gradients, each tower's final states -- and
  // records their indexes in vars_, tables_ and states_; their names, in order.
  StatusOr<std::vector<std::string>> FetchTowerSums(const std::vector<Tower>& towers, const std::string& host);
  // The tower devices by name (plus a host CPU device when the first is a
  // GPU), and the host: the device of the feeds and variable reads. For a
  // model-parallel model without soft placement, checks that every device
  // asked for is among them.
  Status SetUpDevices(const TowerOptions& towers, bool soft_placement, std::map<std::string, Device*>* devices,
                      std::string* host);
  // The device a node copied into the tower graph asks for ("" for the
  // tower's scope): the host for feeds, its own request in a model-parallel
  // replica.
  StatusOr<std::string> TowerNodeDevice(const Node& n, const std::string& host) const;

  OpRegistry registry_;
  Model model_;
  VariableStore store_;
  std::unique_ptr<Executor> executor_;
  kernels::Optimizer optimizer_;
  std::vector<TrainedVariable> vars_;
  std::vector<TrainedVariable> tables_;  // per model table: its rows placeholder's gradient (tower fetches only)
  std::vector<Output> fetches_;  // the loss, then the gradients
  ThreadPool* pool_;
  int64_t step_ = 0;
  std::unique_ptr<Device> own_device_;  // the host CPU device, when no tower device is one
  std::vector<Device*> tower_devices_;
  std::unique_ptr<Graph> tower_graph_;
  std::vector<TowerFeeds> tower_feeds_;
  std::unique_ptr<PartitionedRunner> tower_runner_;
  bool model_parallel_ = false;
  std::vector<std::string> soft_placed_;
  std::vector<StateSlot> states_;
  bool carry_state_ = false;
  int64_t stream_epoch_ = -1;
};

}  // namespace flowps

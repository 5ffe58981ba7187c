#include "net/config_wire.h"

#include <utility>

namespace flowps {
namespace {

// An enum value the peer sent that this build does not know.
Status UnknownValue(const char* field, uint16_t value) {
  return InvalidArgument(std::string(field) + ": unknown value " + std::to_string(value) +
                         " (a peer built from another schema?)");
}

wire::OptimizerKind OptimizerKindToWire(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kSgd: return wire::OptimizerKind::SGD;
    case OptimizerKind::kMomentum: return wire::OptimizerKind::MOMENTUM;
    case OptimizerKind::kAdagrad: return wire::OptimizerKind::ADAGRAD;
    case OptimizerKind::kAdam: return wire::OptimizerKind::ADAM;
    case OptimizerKind::kFtrl: return wire::OptimizerKind::FTRL;
  }
  return wire::OptimizerKind::SGD;
}

StatusOr<OptimizerKind> OptimizerKindFromWire(wire::OptimizerKind kind) {
  switch (kind) {
    case wire::OptimizerKind::SGD: return OptimizerKind::kSgd;
    case wire::OptimizerKind::MOMENTUM: return OptimizerKind::kMomentum;
    case wire::OptimizerKind::ADAGRAD: return OptimizerKind::kAdagrad;
    case wire::OptimizerKind::ADAM: return OptimizerKind::kAdam;
    case wire::OptimizerKind::FTRL: return OptimizerKind::kFtrl;
  }
  return UnknownValue("optimizer", static_cast<uint16_t>(kind));
}

wire::StalenessPolicy StalenessPolicyToWire(StalenessPolicy policy) {
  return policy == StalenessPolicy::kWait ? wire::StalenessPolicy::WAIT : wire::StalenessPolicy::REFUSE;
}

StatusOr<StalenessPolicy> StalenessPolicyFromWire(wire::StalenessPolicy policy) {
  switch (policy) {
    case wire::StalenessPolicy::REFUSE: return StalenessPolicy::kRefuse;
    case wire::StalenessPolicy::WAIT: return StalenessPolicy::kWait;
  }
  return UnknownValue("stalenessPolicy", static_cast<uint16_t>(policy));
}

// The one mapping between the C++ and the wire initializer kinds; both
// directions read it.
constexpr std::pair<kernels::InitializerKind, wire::InitializerKind> kInitializerKinds[] = {
    {kernels::InitializerKind::kZeros, wire::InitializerKind::ZEROS},
    {kernels::InitializerKind::kConstant, wire::InitializerKind::CONSTANT},
    {kernels::InitializerKind::kUniform, wire::InitializerKind::UNIFORM},
    {kernels::InitializerKind::kNormal, wire::InitializerKind::NORMAL},
    {kernels::InitializerKind::kTruncatedNormal, wire::InitializerKind::TRUNCATED_NORMAL},
    {kernels::InitializerKind::kGlorotUniform, wire::InitializerKind::GLOROT_UNIFORM},
    {kernels::InitializerKind::kGlorotNormal, wire::InitializerKind::GLOROT_NORMAL},
    {kernels::InitializerKind::kHeUniform, wire::InitializerKind::HE_UNIFORM},
    {kernels::InitializerKind::kHeNormal, wire::InitializerKind::HE_NORMAL},
};

wire::InitializerKind InitializerKindToWire(kernels::InitializerKind kind) {
  for (const auto& [cc, w] : kInitializerKinds)
    if (cc == kind) return w;
  return wire::InitializerKind::ZEROS;
}

StatusOr<kernels::InitializerKind> InitializerKindFromWire(wire::InitializerKind kind) {
  for (const auto& [cc, w] : kInitializerKinds)
    if (w == kind) return cc;
  return UnknownValue("initializer.kind", static_cast<uint16_t>(kind));
}

}  // namespace

wire::TrainingMode TrainingModeToWire(TrainingMode mode) {
  return mode == TrainingMode::kSync ? wire::TrainingMode::SYNC : wire::TrainingMode::ASYNC;
}

StatusOr<TrainingMode> TrainingModeFromWire(wire::TrainingMode mode) {
  switch (mode) {
    case wire::TrainingMode::SYNC: return TrainingMode::kSync;
    case wire::TrainingMode::ASYNC: return TrainingMode::kAsync;
  }
  return UnknownValue("mode", static_cast<uint16_t>(mode));
}

// An optimizer's numbers, in a ShardConfig or an OptimizerSpec (the same field names).
template <typename Builder>
void WriteOptimizerParams(const OptimizerConfig& o, Builder out) {
  out.setLearningRate(o.learning_rate);
  out.setMomentum(o.momentum);
  out.setNesterov(o.nesterov);
  out.setBeta1(o.beta1);
  out.setBeta2(o.beta2);
  out.setEpsilon(o.epsilon);
  out.setInitialAccumulator(o.initial_accumulator);
  out.setL1(o.l1);
  out.setL2(o.l2);
}

template <typename Reader>
void ReadOptimizerParams(Reader in, OptimizerConfig* o) {
  o->learning_rate = in.getLearningRate();
  o->momentum = in.getMomentum();
  o->nesterov = in.getNesterov();
  o->beta1 = in.getBeta1();
  o->beta2 = in.getBeta2();
  o->epsilon = in.getEpsilon();
  o->initial_accumulator = in.getInitialAccumulator();
  o->l1 = in.getL1();
  o->l2 = in.getL2();
}

void WriteShardConfig(const PsJobConfig& config, wire::ShardConfig::Builder out) {
  out.setMode(TrainingModeToWire(config.mode));
  out.setReplicasToAggregate(config.replicas_to_aggregate);
  out.setTotalWorkers(config.total_workers);
  out.setMaxStaleness(config.max_staleness);
  out.setStalenessPolicy(StalenessPolicyToWire(config.staleness_policy));
  out.setOptimizer(OptimizerKindToWire(config.optimizer.kind));
  WriteOptimizerParams(config.optimizer, out);
  out.setCheckpointDir(config.checkpoint_dir);
  out.setKeepCheckpoints(config.keep_checkpoints);
  out.setTableFullEvery(config.table_full_every);
  out.setJobId(config.job_id);
}

StatusOr<PsJobConfig> ReadShardConfig(wire::ShardConfig::Reader in) {
  PsJobConfig c;
  FLOWPS_ASSIGN_OR_RETURN(c.mode, TrainingModeFromWire(in.getMode()));
  c.replicas_to_aggregate = in.getReplicasToAggregate();
  c.total_workers = in.getTotalWorkers();
  c.max_staleness = in.getMaxStaleness();
  FLOWPS_ASSIGN_OR_RETURN(c.staleness_policy, StalenessPolicyFromWire(in.getStalenessPolicy()));
  FLOWPS_ASSIGN_OR_RETURN(c.optimizer.kind, OptimizerKindFromWire(in.getOptimizer()));
  ReadOptimizerParams(in, &c.optimizer);
  c.checkpoint_dir = in.getCheckpointDir();
  c.keep_checkpoints = in.getKeepCheckpoints();
  c.table_full_every = in.getTableFullEvery() == 0 ? 1 : in.getTableFullEvery();
  c.job_id = in.getJobId();
  return c;
}

void WriteInitializer(const kernels::InitializerSpec& spec, wire::Initializer::Builder out) {
  out.setKind(InitializerKindToWire(spec.kind));
  out.setValue(spec.value);
  out.setMin(spec.min);
  out.setMax(spec.max);
  out.setMean(spec.mean);
  out.setStddev(spec.stddev);
  out.setSeed(spec.seed);
}

StatusOr<kernels::InitializerSpec> ReadInitializer(wire::Initializer::Reader in) {
  kernels::InitializerSpec spec;
  FLOWPS_ASSIGN_OR_RETURN(spec.kind, InitializerKindFromWire(in.getKind()));
  spec.value = in.getValue();
  spec.min = in.getMin();
  spec.max = in.getMax();
  spec.mean = in.getMean();
  spec.stddev = in.getStddev();
  spec.seed = in.getSeed();
  return spec;
}

void WriteOptimizer(const OptimizerConfig& o, wire::OptimizerSpec::Builder out) {
  out.setKind(OptimizerKindToWire(o.kind));
  WriteOptimizerParams(o, out);
}

StatusOr<OptimizerConfig> ReadOptimizer(wire::OptimizerSpec::Reader in) {
  OptimizerConfig o;
  FLOWPS_ASSIGN_OR_RETURN(o.kind, OptimizerKindFromWire(in.getKind()));
  ReadOptimizerParams(in, &o);
  return o;
}

Status WriteTableDef(const TableConfig& table, wire::TableDef::Builder out) {
  StatusOr<kernels::InitializerKind> kind = kernels::ParseInitializerKind(table.initializer.kind);
  if (!kind.ok()) return kind.status().WithContext("embedding table '" + table.name + "'");
  kernels::InitializerSpec init;
  init.kind = *kind;
  init.value = table.initializer.value;
  init.min = table.initializer.min;
  init.max = table.initializer.max;
  init.mean = table.initializer.mean;
  init.stddev = table.initializer.stddev;
  init.seed = table.initializer.seed;
  out.setName(table.name);
  out.setDim(table.dim);
  WriteInitializer(init, out.initInitializer());
  WriteOptimizer(table.optimizer, out.initOptimizer());
  out.setMinCount(table.min_count);
  out.setTtlSteps(table.ttl_steps);
  out.setMaxRows(table.max_rows);
  out.setHotWindowSteps(table.hot_window_steps);
  return Status::OK();
}

StatusOr<TableConfig> ReadTableDef(wire::TableDef::Reader in) {
  TableConfig t;
  t.name = in.getName();
  t.dim = in.getDim();
  FLOWPS_ASSIGN_OR_RETURN(kernels::InitializerSpec init, ReadInitializer(in.getInitializer()));
  t.initializer = TableInitConfig{kernels::InitializerKindName(init.kind), init.value, init.min, init.max,
                                  init.mean, init.stddev, init.seed};
  FLOWPS_ASSIGN_OR_RETURN(t.optimizer, ReadOptimizer(in.getOptimizer()));
  t.min_count = in.getMinCount();
  t.ttl_steps = in.getTtlSteps();
  t.max_rows = in.getMaxRows();
  t.hot_window_steps = in.getHotWindowSteps();
  return t;
}

}  // namespace flowps

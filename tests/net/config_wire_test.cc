// The job's training config crosses the wire unchanged (net/config_wire.h),
// and a value this build does not know is refused with a clear error.
#include <capnp/message.h>
#include <capnp/schema.h>
#include <capnp/serialize.h>

#include <catch2/catch.hpp>

#include "net/config_wire.h"

namespace flowps {
namespace {

// `write` into a fresh message, encode it, decode it and `read` it back.
template <typename Wire, typename T, typename Write, typename Read>
auto ThroughTheWire(const T& value, Write write, Read read) {
  capnp::MallocMessageBuilder out;
  write(value, out.initRoot<Wire>());
  kj::Array<capnp::word> bytes = capnp::messageToFlatArray(out);
  capnp::FlatArrayMessageReader in(bytes);
  return read(in.getRoot<Wire>());
}

StatusOr<PsJobConfig> RoundTrip(const PsJobConfig& c) {
  return ThroughTheWire<wire::ShardConfig>(c, WriteShardConfig, ReadShardConfig);
}

StatusOr<kernels::InitializerSpec> RoundTrip(const kernels::InitializerSpec& s) {
  return ThroughTheWire<wire::Initializer>(s, WriteInitializer, ReadInitializer);
}

template <typename Enum>
size_t WireValues() {
  return capnp::Schema::from<Enum>().getEnumerants().size();
}

const OptimizerKind kOptimizers[] = {OptimizerKind::kSgd, OptimizerKind::kMomentum, OptimizerKind::kAdagrad,
                                     OptimizerKind::kAdam, OptimizerKind::kFtrl};
const TrainingMode kModes[] = {TrainingMode::kSync, TrainingMode::kAsync};
const StalenessPolicy kPolicies[] = {StalenessPolicy::kRefuse, StalenessPolicy::kWait};
const kernels::InitializerKind kInitializers[] = {
    kernels::InitializerKind::kZeros,         kernels::InitializerKind::kConstant,
    kernels::InitializerKind::kUniform,       kernels::InitializerKind::kNormal,
    kernels::InitializerKind::kTruncatedNormal, kernels::InitializerKind::kGlorotUniform,
    kernels::InitializerKind::kGlorotNormal,  kernels::InitializerKind::kHeUniform,
    kernels::InitializerKind::kHeNormal};

TEST_CASE("a shard config arrives unchanged with every optimizer, mode and staleness policy") {
  // The C++ lists above name every value the schema has.
  REQUIRE(WireValues<wire::OptimizerKind>() == std::size(kOptimizers));
  REQUIRE(WireValues<wire::TrainingMode>() == std::size(kModes));
  REQUIRE(WireValues<wire::StalenessPolicy>() == std::size(kPolicies));
  for (OptimizerKind kind : kOptimizers)
    for (TrainingMode mode : kModes)
      for (StalenessPolicy policy : kPolicies) {
        PsJobConfig c;
        c.mode = mode;
        c.replicas_to_aggregate = 3;
        c.total_workers = 4;
        c.max_staleness = 5;
        c.staleness_policy = policy;
        c.optimizer = {kind, 0.25, 0.5, true, 0.8, 0.99, 1e-6, 0.3, 0.125, 0.0625};
        c.checkpoint_dir = "/tmp/ckpt";
        c.keep_checkpoints = 7;
        INFO(OptimizerKindName(kind) << " " << TrainingModeName(mode) << " " << StalenessPolicyName(policy));
        StatusOr<PsJobConfig> back = RoundTrip(c);
        REQUIRE(back.ok());
        CHECK(*back == c);
      }
}

TEST_CASE("an initializer arrives unchanged with every kind") {
  REQUIRE(WireValues<wire::InitializerKind>() == std::size(kInitializers));
  for (kernels::InitializerKind kind : kInitializers) {
    kernels::InitializerSpec s;
    s.kind = kind;
    s.value = 1.5;
    s.min = -2;
    s.max = 3;
    s.mean = 0.25;
    s.stddev = 0.75;
    s.seed = 1234567890123ull;
    INFO(kernels::InitializerKindName(kind));
    StatusOr<kernels::InitializerSpec> back = RoundTrip(s);
    REQUIRE(back.ok());
    CHECK(back->kind == kind);
    CHECK(back->value == s.value);
    CHECK(back->min == s.min);
    CHECK(back->max == s.max);
    CHECK(back->mean == s.mean);
    CHECK(back->stddev == s.stddev);
    CHECK(back->seed == s.seed);
  }
}

TEST_CASE("the mode of the shard stats crosses the wire both ways") {
  for (TrainingMode mode : kModes) CHECK(TrainingModeFromWire(TrainingModeToWire(mode)).value() == mode);
  CHECK(TrainingModeFromWire(static_cast<wire::TrainingMode>(2)).status().message() ==
        "mode: unknown value 2 (a peer built from another schema?)");
}

// A default config with one field spoilt, as read by the ps.
template <typename Spoil>
Status ReadSpoilt(Spoil spoil) {
  capnp::MallocMessageBuilder m;
  auto c = m.initRoot<wire::ShardConfig>();
  WriteShardConfig(PsJobConfig{}, c);
  spoil(c);
  return ReadShardConfig(c.asReader()).status();
}

TEST_CASE("an enum value this build does not know is refused, naming the field and the value") {
  CHECK(ReadSpoilt([](wire::ShardConfig::Builder) {}).ok());
  Status st = ReadSpoilt([](wire::ShardConfig::Builder c) { c.setMode(static_cast<wire::TrainingMode>(7)); });
  CHECK(st.code() == Code::kInvalidArgument);
  CHECK(st.message() == "mode: unknown value 7 (a peer built from another schema?)");
  st = ReadSpoilt([](wire::ShardConfig::Builder c) { c.setStalenessPolicy(static_cast<wire::StalenessPolicy>(9)); });
  CHECK(st.message() == "stalenessPolicy: unknown value 9 (a peer built from another schema?)");
  st = ReadSpoilt([](wire::ShardConfig::Builder c) { c.setOptimizer(static_cast<wire::OptimizerKind>(5)); });
  CHECK(st.message() == "optimizer: unknown value 5 (a peer built from another schema?)");

  capnp::MallocMessageBuilder m;
  auto init = m.initRoot<wire::Initializer>();
  init.setKind(static_cast<wire::InitializerKind>(65535));
  st = ReadInitializer(init.asReader()).status();
  CHECK(st.code() == Code::kInvalidArgument);
  CHECK(st.message() == "initializer.kind: unknown value 65535 (a peer built from another schema?)");
}

}  // namespace
}  // namespace flowps

// Truncated BPTT with a carried state: lstm_lm's state roles
// (GraphRoles::states), carried by LocalModel from one step to the next, on
// its layers' devices, reset at a new epoch, and what it buys on contiguous
// text (data/pipeline.h, PipelineOptions::contiguous).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "core/thread_pool.h"
#include "data/pipeline.h"
#include "graph/device.h"
#include "graph/model_roles.h"
#include "worker/local_model.h"
#include "worker/model_metrics.h"
#include "worker/models.h"
#include "tiny_lstm_lm.h"

using namespace flowps;

namespace {

using testing::RandomTextBatch;
using testing::TinyLstmLm;

using Feeds = std::vector<std::pair<std::string, Tensor>>;

std::string Cpu(int i) { return "/job:worker/task:0/device:cpu:" + std::to_string(i); }

// lstm_lm with layer d on cpu:d: one model-parallel replica over 2 CPU devices.
struct TwoDeviceModel {
  std::unique_ptr<ThreadPool> pool = NewAsioThreadPool(2);
  CpuDevice cpu0{Cpu(0)}, cpu1{Cpu(1)};
  std::unique_ptr<LocalModel> model;

  TwoDeviceModel() {
    ModelSpec spec = TinyLstmLm();
    spec.layer_devices = {"/device:cpu:0", "/device:cpu:1"};
    TowerOptions towers;
    towers.devices = {&cpu0, &cpu1};
    auto m = LocalModel::Create(spec, OptimizerConfig{}, pool.get(), towers);
    INFO(m.status().ToString());
    REQUIRE(m.ok());
    model = std::move(m).value();
  }
};

// The final states after `feeds` (from the states fed there, zeros for the rest), by initial name.
std::map<std::string, Tensor> FinalStates(LocalModel& m, const Feeds& feeds) {
  std::vector<Output> finals;
  for (const StateRole& s : m.model().graph->roles().states) finals.push_back(s.final);
  auto out = m.Fetch(feeds, finals);
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  std::map<std::string, Tensor> by_name;
  for (size_t i = 0; i < finals.size(); ++i) by_name[m.model().graph->roles().states[i].initial->name()] = (*out)[i];
  return by_name;
}

double Loss(LocalModel& m, const Feeds& feeds) {
  auto out = m.Fetch(feeds, {m.model().loss});
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  return (*out)[0].data<float>()[0];
}

double StepLoss(LocalModel& m, const Feeds& feeds) {
  auto g = m.ComputeGradients(feeds);
  INFO(g.status().ToString());
  REQUIRE(g.ok());
  return g->loss;
}

void CheckSame(const Tensor& a, const Tensor& b) {
  REQUIRE(a.valid());
  REQUIRE(b.valid());
  REQUIRE(a.shape().dims() == b.shape().dims());
  for (int64_t i = 0; i < a.num_elements(); ++i) CHECK(a.data<float>()[i] == Approx(b.data<float>()[i]).margin(1e-6));
}

}  // namespace

TEST_CASE("lstm_lm declares h and c of every layer as state, each Placeholder on its layer's device") {
  TwoDeviceModel two;
  LocalModel& m = *two.model;
  const GraphRoles& roles = m.model().graph->roles();
  REQUIRE(roles.states.size() == 4);
  CHECK(roles.states[0].initial->name() == "lstm0/h0");
  CHECK(roles.states[3].initial->name() == "lstm1/c0");
  CHECK(ValidateModel(*m.model().graph).ok());
  CHECK(m.model_parallel());
  // The tower graph keeps each state where its layer computes: no host copy.
  CHECK(m.tower_partitions().at(Cpu(0))->FindNode("tower0/lstm0/h0") != nullptr);
  CHECK(m.tower_partitions().at(Cpu(1))->FindNode("tower0/lstm1/c0") != nullptr);
  CHECK(m.tower_partitions().at(Cpu(0))->FindNode("tower0/lstm1/c0") == nullptr);
}

TEST_CASE("with the state carried, the second step starts from the state the first step ended in") {
  TwoDeviceModel two;
  LocalModel& m = *two.model;
  m.set_carry_state(true);
  const Feeds first = RandomTextBatch(3, 5, 7, 21), second = RandomTextBatch(3, 5, 7, 22);
  const std::map<std::string, Tensor> after_first = FinalStates(m, first);  // from the zero state
  m.ContinueStreams(0);
  StepLoss(m, first);
  for (const auto& [name, value] : after_first) {
    INFO(name);
    auto carried = m.CarriedState(name);
    REQUIRE(carried.ok());
    CheckSame(*carried, value);
  }
  // The second step's loss is the loss of its batch from that state, not from zeros.
  Feeds from_first = second;
  for (const auto& [name, value] : after_first) from_first.emplace_back(name, value);
  const double carried_loss = Loss(m, from_first), zero_loss = Loss(m, second);
  REQUIRE(std::abs(carried_loss - zero_loss) > 1e-4);  // the state matters for this batch
  m.ContinueStreams(0);
  CHECK(StepLoss(m, second) == Approx(carried_loss).epsilon(1e-6));
  // and it ends in the state that follows from there.
  for (const auto& [name, value] : FinalStates(m, from_first)) CheckSame(*m.CarriedState(name), value);
  CHECK_FALSE(m.CarriedState("lstm0/W").ok());
}

TEST_CASE("the carried state is reset at a new epoch, by ResetState, for a batch of other rows, and when off") {
  TwoDeviceModel two;
  LocalModel& m = *two.model;
  const Feeds first = RandomTextBatch(3, 5, 7, 31), second = RandomTextBatch(3, 5, 7, 32);
  const double zero_loss = Loss(m, second);
  m.set_carry_state(true);
  m.ContinueStreams(0);
  StepLoss(m, first);
  REQUIRE(m.CarriedState("lstm0/h0")->valid());
  m.ContinueStreams(1);  // the streams start again
  CHECK_FALSE(m.CarriedState("lstm0/h0")->valid());
  CHECK(StepLoss(m, second) == Approx(zero_loss).epsilon(1e-6));

  StepLoss(m, first);
  m.ResetState();
  CHECK(StepLoss(m, second) == Approx(zero_loss).epsilon(1e-6));

  StepLoss(m, RandomTextBatch(2, 5, 7, 33));  // 2 rows: not the streams of a 3-row batch
  CHECK(StepLoss(m, second) == Approx(zero_loss).epsilon(1e-6));

  m.set_carry_state(false);
  StepLoss(m, first);
  CHECK_FALSE(m.CarriedState("lstm0/h0")->valid());
  CHECK(StepLoss(m, second) == Approx(zero_loss).epsilon(1e-6));
}

namespace {

// A text file of a period repeated: 16 bytes over 8 symbols, each occurring
// twice with a different successor (all 16 pairs of neighbours differ), so
// two bytes of context decide the next byte. The examples (4 bytes) start at
// positions 0, 4, 8 and 12 of the period, which hold a, d, a, d: from its
// first byte alone an example's first target is one of two.
std::string WritePeriodic(const std::filesystem::path& path, int repeats) {
  const std::string period = "ahghdfefabcgdecb";
  std::string text;
  for (int i = 0; i < repeats; ++i) text += period;
  std::ofstream(path) << text;
  return text;
}

// Trains a 1-layer lstm_lm with `carry` on contiguous streams of the periodic
// text (4 bytes per example: the first byte of each example has one byte of
// context unless the state is carried) for `steps` steps; returns the mean
// loss of the last 50 steps and the mean, over those batches, of the floor
// that no model without the carried state can beat: the empirical
// conditional entropy of each example's first target given its first token,
// divided by the 4 positions (the other positions cost >= 0).
struct Trained {
  double loss = 0, floor = 0;
  std::unique_ptr<ThreadPool> pool;  // outlives the model
  std::unique_ptr<LocalModel> model;
};
Trained TrainPeriodic(const std::string& corpus, bool carry, int steps) {
  ModelSpec spec;
  spec.kind = ModelKind::kLstmLm;
  spec.vocab = 128;
  spec.embedding = 8;
  spec.layers = 1;
  spec.hidden_size = 32;
  spec.unroll = 4;
  spec.seed = 5;
  OptimizerConfig adam;
  adam.kind = OptimizerKind::kAdam;
  adam.learning_rate = 0.02;
  Trained out;
  out.pool = NewAsioThreadPool(2);
  auto m = LocalModel::Create(spec, adam, out.pool.get());
  REQUIRE(m.ok());
  (*m)->set_carry_state(carry);
  data::SourceOptions text;
  text.format = DataFormat::kText;
  text.sequence_length = 4;
  auto source = data::DataSource::Open(text, corpus);
  REQUIRE(source.ok());
  data::PipelineOptions reading;
  reading.batch_size = 8;
  reading.contiguous = true;
  auto batches = data::Pipeline::Start(*source, reading);
  REQUIRE(batches.ok());
  double& loss = out.loss;
  double& floor = out.floor;
  for (int s = 0; s < steps; ++s) {
    auto b = (*batches)->Next();
    REQUIRE(b.ok());
    (*m)->ContinueStreams(b->epoch);
    auto l = (*m)->Step({{"tokens", b->columns.at("tokens")}, {"targets", b->columns.at("targets")}});
    REQUIRE(l.ok());
    if (s < steps - 50) continue;
    loss += *l / 50;
    std::map<int32_t, std::map<int32_t, double>> next;  // first token -> first target -> count
    const int32_t* tokens = b->columns.at("tokens").data<int32_t>();
    const int32_t* targets = b->columns.at("targets").data<int32_t>();
    for (int64_t r = 0; r < b->size; ++r) next[tokens[r * 4]][targets[r * 4]] += 1;
    double entropy = 0;
    for (const auto& [token, counts] : next) {
      double n = 0;
      for (const auto& [target, c] : counts) n += c;
      for (const auto& [target, c] : counts) entropy -= c / static_cast<double>(b->size) * std::log(c / n);
    }
    floor += entropy / 4 / 50;
  }
  out.model = std::move(m).value();
  return out;
}

}  // namespace

TEST_CASE("on contiguous text, the carried state lets lstm_lm beat the floor of every model that starts from zeros") {
  const std::filesystem::path corpus =
      std::filesystem::temp_directory_path() / ("flowps_lstm_state_" + std::to_string(::getpid()) + ".txt");
  WritePeriodic(corpus, 40);  // 640 bytes: 159 examples, 19 per stream (8 streams): the state resets every 19 steps
  Trained carried = TrainPeriodic(corpus.string(), true, 300);
  const Trained zero = TrainPeriodic(corpus.string(), false, 300);
  WARN("mean loss of the last 50 steps: carried " << carried.loss << ", zero state " << zero.loss
                                                  << " (floor without state " << zero.floor << ")");
  REQUIRE(zero.floor > 0.1);  // one byte of context leaves a choice
  CHECK(zero.loss >= zero.floor * 0.999);  // the floor holds for the model without the state
  CHECK(carried.loss < 0.5 * carried.floor);  // the carried state gives the first byte its context

  // Evaluated as it trains (streams, a state of the evaluation's own), the
  // carried model is better than from zeros, and its training state is untouched.
  data::SourceOptions text;
  text.format = DataFormat::kText;
  text.sequence_length = 4;
  auto source = data::DataSource::Open(text, corpus.string());
  REQUIRE(source.ok());
  const std::vector<FeedSpec> feeds = {{"tokens", "tokens", ""}, {"targets", "targets", ""}};
  const Tensor before = carried.model->CarriedState("lstm0/h0")->Clone();
  auto streaming = EvaluateMetrics(*source, feeds, carried.model.get());
  REQUIRE(streaming.ok());
  CheckSame(*carried.model->CarriedState("lstm0/h0"), before);
  carried.model->set_carry_state(false);
  auto from_zeros = EvaluateMetrics(*source, feeds, carried.model.get());
  REQUIRE(from_zeros.ok());
  std::filesystem::remove(corpus);
  WARN("test perplexity of the carried model: on streams " << streaming->at("perplexity") << ", from zeros "
                                                            << from_zeros->at("perplexity"));
  CHECK(streaming->at("perplexity") < from_zeros->at("perplexity") * 0.9);
}

#include "worker/lstm_lm.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <random>

#include "graph/device_name.h"
#include "graph/layers.h"
#include "graph/model_roles.h"
#include "graph/ops.h"
#include "worker/local_model.h"
#include "worker/models.h"

namespace flowps {
namespace {

using kernels::InitializerKind;
using kernels::InitializerSpec;

InitializerSpec Uniform(uint64_t seed, double scale) {
  InitializerSpec s;
  s.kind = InitializerKind::kUniform;
  s.min = -scale;
  s.max = scale;
  s.seed = seed;
  return s;
}

// The device at `i` of `devices`, or "" (none requested) for an empty list.
std::string DeviceAt(const std::vector<std::string>& devices, size_t i) {
  return devices.empty() ? std::string() : devices[i];
}

Status CheckDevices(const std::vector<std::string>& devices, const std::string& key) {
  const DeviceName base{"worker", 0, true, "cpu", 0};
  for (const std::string& d : devices) {
    auto parsed = ParseDeviceRequest(d, base);
    if (!parsed.ok()) return parsed.status().WithContext("model." + key);
    if (!parsed->has_device)
      return InvalidArgument("model." + key + ": '" + d + "' names a task, not a device (e.g. /device:cpu:1)");
  }
  return Status::OK();
}

// Per-character losses [N * T] of the rows h [N * T, H] against targets
// [N * T], and the logits [N * T, V]: one projection, or the split softmax.
std::pair<Output, Output> SoftmaxLoss(Graph& g, const ModelSpec& spec, Output h, Output targets, uint64_t seed) {
  const int64_t parts = spec.softmax_parts, v = spec.vocab;
  if (parts == 1) {
    DeviceScope on(g, DeviceAt(spec.softmax_devices, 0));
    Output w = Variable(g, "softmax/W", Shape{spec.hidden_size, v}, GlorotUniform(seed));
    Output b = Variable(g, "softmax/b", Shape{v}, InitializerSpec{});
    Output logits = BiasAdd(MatMul(h, w), b);
    return {SparseSoftmaxCrossEntropyWithLogits(logits, targets), logits};
  }
  std::vector<Output> logits, lse, picked;
  int64_t offset = 0;
  for (int64_t p = 0; p < parts; ++p) {
    const int64_t width = v / parts + (p < v % parts ? 1 : 0);
    DeviceScope on(g, DeviceAt(spec.softmax_devices, static_cast<size_t>(p)));
    const std::string name = "softmax/part" + std::to_string(p);
    Output w = Variable(g, name + "/W", Shape{spec.hidden_size, width}, GlorotUniform(seed + static_cast<uint64_t>(p)));
    Output b = Variable(g, name + "/b", Shape{width}, InitializerSpec{});
    logits.push_back(BiasAdd(MatMul(h, w), b));
    lse.push_back(LogSumExp(logits.back()));
    picked.push_back(PickColumn(logits.back(), targets, offset, v));
    offset += width;
  }
  // The parts' terms meet on the first part's device: [N * T, parts] is small.
  DeviceScope on(g, DeviceAt(spec.softmax_devices, 0));
  Output label_logit = picked[0];
  for (int64_t p = 1; p < parts; ++p) label_logit = label_logit + picked[static_cast<size_t>(p)];
  Output loss = Reshape(LogSumExp(Concat(lse, 1)) - label_logit, Shape{-1});
  return {loss, Concat(logits, 1)};
}

}  // namespace

StatusOr<std::unique_ptr<Graph>> BuildLstmLmGraph(const ModelSpec& spec, const OpRegistry* registry) {
  if (spec.unroll <= 0) return InvalidArgument("model.unroll must be positive (the data's sequence_length)");
  if (!spec.layer_devices.empty() && static_cast<int64_t>(spec.layer_devices.size()) != spec.layers)
    return InvalidArgument("model.layer_devices names " + std::to_string(spec.layer_devices.size()) +
                           " devices for " + std::to_string(spec.layers) + " layers");
  if (!spec.softmax_devices.empty() && static_cast<int64_t>(spec.softmax_devices.size()) != spec.softmax_parts)
    return InvalidArgument("model.softmax_devices names " + std::to_string(spec.softmax_devices.size()) +
                           " devices for " + std::to_string(spec.softmax_parts) + " softmax parts");
  if (spec.softmax_parts < 1 || spec.softmax_parts > spec.vocab)
    return InvalidArgument("model.softmax_parts must be in [1, vocab]");
  FLOWPS_RETURN_IF_ERROR(CheckDevices(spec.layer_devices, "layer_devices"));
  FLOWPS_RETURN_IF_ERROR(CheckDevices(spec.softmax_devices, "softmax_devices"));
  const int64_t t_steps = spec.unroll, hidden = spec.hidden_size;
  const uint64_t seed = static_cast<uint64_t>(spec.seed);

  auto g = std::make_unique<Graph>(registry);
  Output tokens = Placeholder(*g, DType::kInt32, Shape{-1, t_steps}, "tokens");
  Output targets = Placeholder(*g, DType::kInt32, Shape{-1, t_steps}, "targets");
  std::vector<Output> inputs;  // the current layer's input at each time step
  int64_t width = spec.embedding;
  {
    DeviceScope on(*g, DeviceAt(spec.layer_devices, 0));
    Output table = Variable(*g, "embedding", Shape{spec.vocab, spec.embedding}, Uniform(seed, 0.1));
    for (Output x : Split(Gather(table, tokens), t_steps, 1)) inputs.push_back(Reshape(x, Shape{-1, width}));
  }
  for (int64_t d = 0; d < spec.layers; ++d) {
    DeviceScope on(*g, DeviceAt(spec.layer_devices, static_cast<size_t>(d)));
    NameScope layer(*g, "lstm" + std::to_string(d));
    const LstmCell cell = LstmCellVariables(*g, width, hidden, seed + 100 + static_cast<uint64_t>(d));
    inputs = LstmUnroll(cell, inputs);  // the next layer's input at each step
    width = hidden;
  }
  Output rows, flat_targets;
  {
    DeviceScope on(*g, DeviceAt(spec.layer_devices, static_cast<size_t>(spec.layers - 1)));
    rows = Reshape(Concat(inputs, 1), Shape{-1, hidden});  // row n * T + t: h of example n at step t
    flat_targets = Reshape(targets, Shape{-1});
  }
  auto [per_char, logits] = SoftmaxLoss(*g, spec, rows, flat_targets, seed + 200);
  logits = NamedIdentity(logits, "logits");
  Output per_example = ReduceMean(Reshape(per_char, Shape{-1, t_steps}), {1});
  Output loss = NamedIdentity(ReduceMean(per_example), "loss");
  FLOWPS_RETURN_IF_ERROR(g->status().WithContext("building model lstm_lm"));
  GraphRoles& roles = g->roles();
  roles.inputs = {{tokens.node, "tokens"}, {targets.node, "targets"}};
  roles.loss = loss;
  roles.metrics = {{"perplexity", "perplexity", {per_example}}, {"accuracy", "accuracy", {logits, flat_targets}}};
  return g;
}

double UnigramPerplexity(const std::string& text) {
  std::array<double, 256> counts{};
  for (unsigned char c : text) counts[c] += 1;
  double entropy = 0;
  const double n = static_cast<double>(text.size());
  for (double c : counts)
    if (c > 0) entropy -= c / n * std::log(c / n);
  return std::exp(entropy);
}

std::string PrintableText(const std::string& text) {
  std::string out = text;
  for (char& c : out)
    if (!(c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f))) c = '?';
  return out;
}

bool IsTextModel(const LocalModel& model) {
  const Graph& g = *model.model().graph;
  Node* tokens = g.FindNode("tokens");
  Node* logits = g.FindNode("logits");
  return tokens != nullptr && logits != nullptr && tokens->op() == "Placeholder" &&
         tokens->output_shape(0).rank() == 2 && tokens->output_shape(0).dim(1) > 0 &&
         logits->output_shape(0).rank() == 2;
}

StatusOr<std::string> SampleText(LocalModel& model, const SampleOptions& options) {
  if (!IsTextModel(model))
    return FailedPrecondition("the model has no 'tokens' placeholder [-1, T] and 'logits' [-1, V]: not a text model");
  const Graph& g = *model.model().graph;
  Node* tokens = g.FindNode("tokens");
  Node* logits_node = g.FindNode("logits");
  if (options.prompt.empty()) return InvalidArgument("the sample's prompt is empty");
  const int64_t t_steps = tokens->output_shape(0).dim(1);
  std::string text = options.prompt;
  std::mt19937_64 rng(options.seed);
  for (int64_t k = 0; k < options.length; ++k) {
    Tensor window(DType::kInt32, Shape{1, t_steps});
    const int64_t have = std::min<int64_t>(t_steps, static_cast<int64_t>(text.size()));
    for (int64_t i = 0; i < t_steps; ++i) {
      const int64_t from = static_cast<int64_t>(text.size()) - have + (i - (t_steps - have));
      window.data<int32_t>()[i] = i < t_steps - have ? '\n' : static_cast<unsigned char>(text[static_cast<size_t>(from)]);
    }
    FLOWPS_ASSIGN_OR_RETURN(std::vector<Tensor> out, model.Fetch({{"tokens", window}}, {logits_node->output(0)}));
    const int64_t v = out[0].shape().dim(1);
    const float* last = out[0].data<float>() + (t_steps - 1) * v;
    std::vector<double> p(static_cast<size_t>(std::min<int64_t>(v, 256)));
    size_t pick = static_cast<size_t>(std::max_element(last, last + p.size()) - last);
    if (options.temperature > 0) {
      for (size_t j = 0; j < p.size(); ++j) p[j] = std::exp((last[j] - last[pick]) / options.temperature);
      pick = std::discrete_distribution<size_t>(p.begin(), p.end())(rng);
    }
    text.push_back(static_cast<char>(pick));
  }
  return text.substr(options.prompt.size());
}

}  // namespace flowps

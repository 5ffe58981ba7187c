#include "bench/layered_lstm.h"

#include <optional>

#include "graph/model_roles.h"
#include "graph/ops.h"

namespace flowps {
namespace {

using kernels::InitializerSpec;

// One LSTM layer over the steps; returns its output at every step.
std::vector<Output> LstmLayer(Graph& g, const std::vector<Output>& in, int64_t in_width, int64_t hidden,
                              uint64_t seed) {
  Output wx = Variable(g, "Wx", Shape{in_width, 4 * hidden}, InitializerSpec::GlorotUniform(seed));
  Output wh = Variable(g, "Wh", Shape{hidden, 4 * hidden}, InitializerSpec::GlorotUniform(seed + 1));
  Output b = Variable(g, "b", Shape{4 * hidden}, InitializerSpec{});
  std::vector<Output> out;
  Output h, c;
  for (size_t t = 0; t < in.size(); ++t) {
    NameScope step(g, "t" + std::to_string(t));
    Output gates = MatMul(in[t], wx);
    if (h.valid()) gates = gates + MatMul(h, wh);
    std::vector<Output> igfo = Split(BiasAdd(gates, b), 4, 1);
    Output input = Sigmoid(igfo[0]) * Tanh(igfo[1]);
    c = c.valid() ? Sigmoid(igfo[2]) * c + input : input;
    h = Sigmoid(igfo[3]) * Tanh(c);
    out.push_back(h);
  }
  return out;
}

}  // namespace

StatusOr<std::unique_ptr<Graph>> BuildLayeredLstm(const LayeredLstmOptions& o, const OpRegistry* registry) {
  if (o.layers < 1 || o.steps < 1 || o.features < 1 || o.hidden < 1 || o.classes < 2 || o.devices < 0)
    return InvalidArgument("a layered LSTM needs layers, steps, features, hidden >= 1, classes >= 2, devices >= 0");
  auto g = std::make_unique<Graph>(registry);
  Output x = Placeholder(*g, DType::kFloat32, Shape{-1, o.steps * o.features}, "x");
  Output y = Placeholder(*g, DType::kInt32, Shape{-1}, "y");
  std::vector<Output> seq = Split(x, o.steps, 1);
  // Layer d (and the softmax after the last) asks for its device.
  auto on_device = [&](int layer, std::optional<DeviceScope>* scope) {
    if (o.devices > 0) scope->emplace(*g, "/device:cpu:" + std::to_string(layer % o.devices));
  };
  for (int d = 0; d < o.layers; ++d) {
    std::optional<DeviceScope> device;
    on_device(d, &device);
    NameScope layer(*g, "layer" + std::to_string(d));
    seq = LstmLayer(*g, seq, d == 0 ? o.features : o.hidden, o.hidden, o.seed + 2 * static_cast<uint64_t>(d));
  }
  std::optional<DeviceScope> device;
  on_device(o.layers - 1, &device);
  Output logits;
  {
    NameScope softmax(*g, "softmax");
    Output w = Variable(*g, "W", Shape{o.hidden, o.classes}, InitializerSpec::GlorotUniform(o.seed + 1000));
    Output b = Variable(*g, "b", Shape{o.classes}, InitializerSpec{});
    logits = BiasAdd(MatMul(seq.back(), w), b);
  }
  Output loss = ReduceMean(SparseSoftmaxCrossEntropyWithLogits(logits, y));
  FLOWPS_RETURN_IF_ERROR(g->status());
  g->roles().inputs = {{x.node, "features"}, {y.node, "label"}};
  g->roles().loss = loss;
  g->roles().metrics = {{"accuracy", "accuracy", {logits, y}}};
  FLOWPS_RETURN_IF_ERROR(ValidateModel(*g));
  return g;
}

}  // namespace flowps

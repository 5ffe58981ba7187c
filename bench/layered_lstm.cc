#include "bench/layered_lstm.h"

#include <optional>

#include "graph/layers.h"
#include "graph/model_roles.h"
#include "graph/ops.h"

namespace flowps {

using kernels::InitializerSpec;

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
    seq = LstmUnroll(LstmCellVariables(*g, d == 0 ? o.features : o.hidden, o.hidden, o.seed + static_cast<uint64_t>(d)), seq);
  }
  std::optional<DeviceScope> device;
  on_device(o.layers - 1, &device);
  Output logits;
  {
    NameScope softmax(*g, "softmax");
    Output w = Variable(*g, "W", Shape{o.hidden, o.classes}, GlorotUniform(o.seed + 1000));
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

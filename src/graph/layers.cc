#include "graph/layers.h"

#include <optional>
#include <string>

#include "graph/model_roles.h"
#include "graph/ops.h"

namespace flowps {

kernels::InitializerSpec GlorotUniform(uint64_t seed) {
  kernels::InitializerSpec s;
  s.kind = kernels::InitializerKind::kGlorotUniform;
  s.seed = seed;
  return s;
}

LstmCell LstmCellVariables(Graph& g, int64_t input_width, int64_t hidden, uint64_t seed) {
  LstmCell cell;
  cell.w = Variable(g, "W", Shape{input_width + hidden, 4 * hidden}, GlorotUniform(seed));
  cell.b = Variable(g, "b", Shape{4 * hidden}, kernels::InitializerSpec{});
  cell.input_width = input_width;
  cell.hidden = hidden;
  return cell;
}

LstmState LstmStep(const LstmCell& cell, Output x, const LstmState& prev) {
  Output z = prev.h.valid() ? MatMul(Concat({x, prev.h}, 1), cell.w)
                            : MatMul(x, Slice(cell.w, {0, 0}, {cell.input_width, 4 * cell.hidden}));
  std::vector<Output> gate = Split(BiasAdd(z, cell.b), 4, 1);
  if (gate.size() != 4) return {};
  Output i = Sigmoid(gate[0]), f = Sigmoid(gate[1] + 1.f), o = Sigmoid(gate[2]), g = Tanh(gate[3]);
  Output c = prev.c.valid() ? f * prev.c + i * g : i * g;
  return {o * Tanh(c), c};
}

std::vector<Output> LstmUnroll(const LstmCell& cell, const std::vector<Output>& inputs, const LstmState& initial,
                               LstmState* final) {
  std::vector<Output> out;
  LstmState state = initial;
  for (size_t t = 0; t < inputs.size(); ++t) {
    std::optional<NameScope> step;  // none for an invalid input: LstmStep then does nothing
    if (inputs[t].valid()) step.emplace(*inputs[t].graph(), "t" + std::to_string(t));
    state = LstmStep(cell, inputs[t], state);
    out.push_back(state.h);
  }
  if (final != nullptr) *final = state;
  return out;
}

}  // namespace flowps

// Layers built from the builder API (graph/ops.h) that more than one model
// uses: the one LSTM cell of the project (the built-in lstm_lm, the layered
// LSTM benchmark model) and the Glorot-uniform initializer they seed.
//
// Same rules as graph/ops.h: an error is recorded in graph.status() and
// yields invalid Outputs; the caller checks graph.status() once at the end.
// Nodes are named inside the graph's current name scope and request the
// graph's current device (NameScope, DeviceScope). Not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "graph/graph.h"
#include "kernels/initializers.h"

namespace flowps {

// Glorot-uniform weights drawn from `seed`: U(-l, l), l = sqrt(6 / (fan_in + fan_out)).
kernels::InitializerSpec GlorotUniform(uint64_t seed);

// An LSTM cell's variables: W [input_width + hidden, 4 * hidden] (Glorot
// uniform from `seed`) and b [4 * hidden] (zeros), the gates' columns in the
// order input, forget, output, candidate.
struct LstmCell {
  Output w, b;
  int64_t input_width = 0, hidden = 0;
};
// Adds the variables "W" and "b" in the current name scope (so one cell per
// scope, e.g. "lstm0/W").
LstmCell LstmCellVariables(Graph& g, int64_t input_width, int64_t hidden, uint64_t seed);

// The recurrent state, h and c [N, hidden]. Invalid Outputs stand for the
// zero state (no nodes are built for it).
struct LstmState {
  Output h, c;
};

// One step of the cell on x [N, input_width]: z = [x, h] W + b split into the
// gates i, f, o and the candidate g; c' = sigmoid(f + 1) * c + sigmoid(i) * tanh(g)
// (forget bias 1, as TensorFlow's BasicLSTMCell); h' = sigmoid(o) * tanh(c').
// From the zero state only W's input rows take part (z = x W[:input_width] + b).
// Returns invalid Outputs when an input is invalid.
LstmState LstmStep(const LstmCell& cell, Output x, const LstmState& prev);

// The cell unrolled over `inputs` (one [N, input_width] Output per time step)
// from `initial`: h at every step, in order. Step t's nodes are built in the
// name scope "t<t>" (e.g. "lstm1/t3/MatMul"), so that a trace shows which
// layer and time step each kernel belongs to. When `final` is not null it
// receives the state after the last step (for a state carried across steps).
std::vector<Output> LstmUnroll(const LstmCell& cell, const std::vector<Output>& inputs, const LstmState& initial = {},
                               LstmState* final = nullptr);

}  // namespace flowps

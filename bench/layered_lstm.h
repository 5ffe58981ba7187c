// A layered LSTM classifier for model parallelism: the model that the
// `model-parallel` benchmark and the model-parallel tests train, in the shape
// of the talks' deep LSTM (layer d on device d).
//
// The input x [n, steps * features] is read as `steps` time steps of
// `features` values (an image read as bands of rows); `layers` LSTM layers
// (the cell of graph/layers.h, variables "layer<d>/W" and "layer<d>/b") are
// unrolled over the steps, layer d asking for "/device:cpu:<d % devices>" (no request when
// devices is 0); a softmax layer on the last layer's device classifies the
// last step's output. A complete model (graph/model_roles.h): Glorot-uniform
// weights seeded from `seed`, zero biases; roles x <- features, y <- label,
// the mean cross-entropy loss, the metric accuracy.
#pragma once

#include <memory>

#include "core/status.h"
#include "graph/graph.h"

namespace flowps {

struct LayeredLstmOptions {
  int layers = 4;
  int steps = 4;
  int64_t features = 196;  // per step; steps * features = 784 reads a Fashion-MNIST image
  int64_t hidden = 32;
  int64_t classes = 10;
  int devices = 4;  // layer d on cpu:(d % devices); 0: no device requests
  uint64_t seed = 1;
};

// REQUIRES: registry holds the standard ops and outlives the graph.
StatusOr<std::unique_ptr<Graph>> BuildLayeredLstm(const LayeredLstmOptions& options, const OpRegistry* registry);

}  // namespace flowps

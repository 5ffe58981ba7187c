// A synthetic click log with a known answer, for embedding models.
//
// Each example has one feature id per field; in field f the id is drawn
// from a Zipf distribution (exponent zipf) over that field's ids/fields
// ranks and scrambled into an arbitrary int64 (so ids are not 0..V-1). A
// hidden logistic model gives each id a weight drawn from N(0, 0.7^2);
// the label is 1 with probability sigmoid(bias + the sum of the example's
// weights), bias chosen so about a quarter of the examples are clicks. The
// generator also scores the test split with the hidden model itself: its AUC
// is the ceiling any learner can reach on that split.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace flowps::data {

struct SynthCtrOptions {
  int64_t examples = 100000;   // train + test
  int64_t ids = 100000;        // distinct ids over all fields (>= fields)
  double zipf = 1.1;           // > 0
  int64_t fields = 8;          // > 0
  uint64_t seed = 1;
  double test_fraction = 0.1;  // in (0, 1)
};

struct SynthCtrResult {
  std::string train_path, test_path;  // <dir>/train.libsvm, <dir>/test.libsvm
  int64_t train_examples = 0, test_examples = 0;
  double test_positive_rate = 0;
  double hidden_model_test_auc = 0;   // the ceiling
};

// Writes <dir>/train.libsvm and <dir>/test.libsvm (label 0/1, id:1 per field).
StatusOr<SynthCtrResult> WriteSynthCtr(const SynthCtrOptions& options, const std::string& dir);

// The area under the ROC curve of scores against 0/1 labels (ties count half).
double AreaUnderRoc(std::vector<std::pair<double, int>> scored);

}  // namespace flowps::data

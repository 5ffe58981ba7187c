// The metrics a model's roles name (graph/model_roles.h: accuracy, auc, mean),
// plus "loss" (the mean of the loss role), over one pass of a data set -- what
// the chief evaluates on the test set and `flowps train` reports.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/job_spec.h"
#include "core/status.h"
#include "data/data_source.h"
#include "data/example.h"

namespace flowps {

class LocalModel;

// Metric name -> value over the whole data set: accuracy a fraction in [0, 1],
// auc in [0, 1] (NaN when one class is absent), mean and loss averaged per
// example (a scalar per batch weighted by the batch's size), perplexity the
// exp of such a mean.
using TestMetrics = std::map<std::string, double>;

// Adds the columns a batch needs beyond those read (an embedding table's rows
// and index: worker/table_source.h); called on the evaluating thread.
using ExtraColumns = std::function<Status(data::ColumnBatch* batch)>;

// One pass over `test` in batches of 1000, its placeholders bound by `feeds`
// (after `extra` added its columns, when given), with `model`'s variables as they are.
// A model that carries recurrent state (LocalModel::carries_state) reads the
// test data as contiguous streams instead (at most 64, each at least 16
// batches long when the data allows) and carries a state of the evaluation's
// own across them: its metrics are those of the model as it runs on a stream.
StatusOr<TestMetrics> EvaluateMetrics(const data::DataSource& test, const std::vector<FeedSpec>& feeds,
                                      LocalModel* model, const ExtraColumns& extra = nullptr);

// The area under the ROC curve of `scores` against 0/1 `labels` (ties count
// one half); NaN when either class is absent.
double AreaUnderCurve(const std::vector<float>& scores, const std::vector<int64_t>& labels);

// "accuracy 85.31%, loss 0.4172" -- fractions named accuracy as percentages.
std::string FormatMetrics(const TestMetrics& metrics);

}  // namespace flowps

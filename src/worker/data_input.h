// The data a job trains on, bound to its model's placeholders.
//
// data.feeds maps placeholders to columns; a section without feeds feeds a
// built-in model x <- features and y <- label. CheckFeeds refuses, before
// any step, a feed whose column is missing or whose dtype or shape does not
// fit its placeholder, naming the job file's line, the key and the column.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/job_spec.h"
#include "core/status.h"
#include "core/tensor.h"
#include "data/example.h"
#include "graph/graph.h"

namespace flowps {

// The job's feeds, or the built-in models' defaults when it gives none.
std::vector<FeedSpec> EffectiveFeeds(const DataSpec& data);

// OK when every feed names a column of `schema` and a Placeholder of `graph`
// whose dtype is the column's and whose shape is [batch] + the column's
// shape (-1 matches any size), and every Placeholder of the graph is fed.
// `split` ("train", "test") names the data in messages.
Status CheckFeeds(const DataSpec& data, const Graph& graph, const data::Schema& schema, const std::string& split);

// The placeholder inputs of one batch: (placeholder name, column tensor).
using NamedFeeds = std::vector<std::pair<std::string, Tensor>>;
// REQUIRES: CheckFeeds passed for the batch's schema.
NamedFeeds BindFeeds(const std::vector<FeedSpec>& feeds, const data::ColumnBatch& batch);

}  // namespace flowps

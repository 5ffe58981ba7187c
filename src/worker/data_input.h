// The data a job trains on, bound to its model's placeholders.
//
// data.feeds maps placeholders to columns; a section without feeds takes the
// model's input roles (graph/model_roles.h; a built-in model's are
// x <- features and y <- label). CheckFeeds refuses, before
// any step, a feed whose column is missing or whose dtype or shape does not
// fit its placeholder, naming the job file's line, the key and the column.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/job_spec.h"
#include "core/status.h"
#include "core/tensor.h"
#include "data/data_source.h"
#include "data/example.h"
#include "data/pipeline.h"
#include "graph/graph.h"

namespace spdlog {
class logger;
}

namespace flowps {

// The job's feeds, or the model's input roles when it gives none.
std::vector<FeedSpec> EffectiveFeeds(const DataSpec& data, const Graph& graph);

// OK when every feed names a column of `schema` and a Placeholder of `graph`
// whose dtype is the column's and whose shape is [batch] + the column's
// shape (-1 matches any size), or the offsets of a ragged column and an int64
// vector placeholder, and every Placeholder of the graph is fed (those of
// embedding tables are fed by the worker: graph/table_input.h; so are the
// initial values of recurrent states: GraphRoles::states).
// `split` ("train", "test") names the data in messages.
Status CheckFeeds(const DataSpec& data, const Graph& graph, const data::Schema& schema, const std::string& split);

// The placeholder inputs of one batch: (placeholder name, column tensor).
using NamedFeeds = std::vector<std::pair<std::string, Tensor>>;
// REQUIRES: CheckFeeds passed for the batch's schema.
NamedFeeds BindFeeds(const std::vector<FeedSpec>& feeds, const data::ColumnBatch& batch);

// A job's train and test data, checked against the model's placeholders.
struct JobData {
  data::DataSource train;
  std::optional<data::DataSource> test;  // none when data.train is given without data.test
  int64_t train_examples = 0;            // in the whole training set, all workers together
};

// Opens the job's data and checks the feeds against `graph`. The `chief`
// (and flowps train) also opens the test split and reads every record once --
// the whole training set and the test set -- so that a malformed record
// ("file:line: ...") fails the job before its first step; the other workers
// only count the training examples, from headers or lines where the format
// allows (data::CountExamples), and check their shard as they read it.
// InvalidArgument when the training data is empty.
StatusOr<JobData> OpenJobData(const JobSpec& job, const Graph& graph, bool chief, spdlog::logger* log);

// How worker `worker` of `num_workers` reads the training data: data.batch_size,
// data.shuffle_buffer (0 without data.shuffle), data.seed, data.prefetch_batches,
// data.contiguous, epoch after epoch.
data::PipelineOptions TrainReading(const DataSpec& data, int worker, int num_workers);

}  // namespace flowps

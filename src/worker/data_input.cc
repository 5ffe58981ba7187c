#include "worker/data_input.h"

#include <spdlog/logger.h>

#include <set>

#include "graph/attr.h"
#include "graph/model_roles.h"
#include "graph/table_input.h"

namespace flowps {

namespace {

// True if `column` is the offsets column of a ragged column of `schema`.
bool IsOffsetsColumn(const data::Schema& schema, const std::string& column) {
  for (const data::ColumnSpec& c : schema)
    if (c.ragged() && c.offsets == column) return true;
  return false;
}

}  // namespace

std::vector<FeedSpec> EffectiveFeeds(const DataSpec& data, const Graph& graph) {
  if (!data.feeds.empty()) return data.feeds;
  std::vector<FeedSpec> feeds;
  for (const InputRole& in : graph.roles().inputs) feeds.push_back({in.placeholder->name(), in.column, data.where});
  return feeds;
}

Status CheckFeeds(const DataSpec& data, const Graph& graph, const data::Schema& schema, const std::string& split) {
  const bool given = !data.feeds.empty();
  std::set<std::string> fed;
  for (const FeedSpec& f : EffectiveFeeds(data, graph)) {
    const std::string at = f.where + ": key 'data.feeds" + (given ? "." + f.placeholder : std::string()) + "'" +
                           (given ? "" : " (default " + f.placeholder + " <- " + f.column + ")") + ": ";
    const data::ColumnSpec* col = data::FindColumn(schema, f.column);
    const bool offsets = col == nullptr && IsOffsetsColumn(schema, f.column);
    if (offsets) {  // a ragged batch's int64 [batch + 1] offsets
      const Node* node = graph.FindNode(f.placeholder);
      if (node == nullptr || node->op() != "Placeholder" || node->output_dtype(0) != DType::kInt64 ||
          node->output_shape(0).rank() != 1)
        return InvalidArgument(at + "column '" + f.column + "' is the int64 [batch + 1] offsets of a ragged column; "
                               "placeholder '" + f.placeholder + "' must be an int64 vector");
      fed.insert(f.placeholder);
      continue;
    }
    if (col == nullptr)
      return InvalidArgument(at + "the " + split + " data has no column '" + f.column + "' (it has " +
                             data::DescribeSchema(schema) + ")");
    const Node* node = graph.FindNode(f.placeholder);
    if (node == nullptr || node->op() != "Placeholder")
      return InvalidArgument(at + "the model has no placeholder '" + f.placeholder + "'");
    const DType want = node->output_dtype(0);
    const Shape& shape = node->output_shape(0);
    bool fits = !col->ragged() && col->dtype == want && shape.rank() == static_cast<int>(col->shape.size()) + 1;
    for (size_t i = 0; fits && i < col->shape.size(); ++i)
      fits = shape.dim(static_cast<int>(i) + 1) < 0 || shape.dim(static_cast<int>(i) + 1) == col->shape[i];
    if (!fits)
      return InvalidArgument(at + "column '" + f.column + "' is " + col->Describe() + " but placeholder '" +
                             f.placeholder + "' takes " + DTypeName(want) + " " + shape.ToString() +
                             " (the first dimension is the batch)");
    fed.insert(f.placeholder);
  }
  for (const auto& n : graph.nodes())
    if (n->op() == "Placeholder" && !IsTableInput(*n) && !IsStateInput(graph, *n) && fed.count(n->name()) == 0)
      return InvalidArgument(data.where + ": key 'data.feeds': the model's placeholder '" + n->name() +
                             "' is fed by no column");
  return Status::OK();
}

NamedFeeds BindFeeds(const std::vector<FeedSpec>& feeds, const data::ColumnBatch& batch) {
  NamedFeeds out;
  for (const FeedSpec& f : feeds) out.emplace_back(f.placeholder, batch.columns.at(f.column));
  return out;
}

StatusOr<JobData> OpenJobData(const JobSpec& job, const Graph& graph, bool chief, spdlog::logger* log) {
  FLOWPS_ASSIGN_OR_RETURN(data::DataSource train, data::OpenJobSource(job.data, data::Split::kTrain));
  FLOWPS_RETURN_IF_ERROR(CheckFeeds(job.data, graph, train.schema(), "train"));
  JobData d{std::move(train), std::nullopt, 0};
  if (!chief) {
    // The chief evaluates; the other workers need no test data.
  } else if (!job.data.train.empty() && job.data.test.empty()) {
    log->info("data.test is not given: no test accuracy is measured");
  } else {
    FLOWPS_ASSIGN_OR_RETURN(data::DataSource test, data::OpenJobSource(job.data, data::Split::kTest));
    FLOWPS_RETURN_IF_ERROR(CheckFeeds(job.data, graph, test.schema(), "test"));
    FLOWPS_RETURN_IF_ERROR(data::CountShardExamples(test, 0, 1).status());
    d.test = std::move(test);
  }
  // All workers count the whole training set, so that all agree on the steps
  // of an epoch; the chief's count is a full read that checks every record.
  FLOWPS_ASSIGN_OR_RETURN(d.train_examples,
                          chief ? data::CountShardExamples(d.train, 0, 1) : data::CountExamples(d.train));
  if (d.train_examples == 0) return InvalidArgument(d.train.files()[0] + ": the training data holds no examples");
  log->info("data: {} {} file(s), {} training examples; columns {}", DataFormatName(job.data.format),
            d.train.files().size(), d.train_examples, data::DescribeSchema(d.train.schema()));
  return d;
}

data::PipelineOptions TrainReading(const DataSpec& data, int worker, int num_workers) {
  data::PipelineOptions reading;
  reading.batch_size = data.batch_size;
  reading.shuffle_buffer = data.shuffle ? data.shuffle_buffer : 0;
  reading.seed = static_cast<uint64_t>(data.seed);
  reading.prefetch_batches = data.prefetch_batches;
  reading.worker = worker;
  reading.num_workers = num_workers;
  reading.contiguous = data.contiguous;
  return reading;
}

}  // namespace flowps

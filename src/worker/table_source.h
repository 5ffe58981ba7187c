// TableSource: the GradientSource of a worker whose model looks up ps
// embedding tables (graph/table_input.h), over the model's towers.
//
// A step, per table: the batch's ids (its int64 ids column) are deduplicated
// and split by shard (net/table_keys.h; PlanReads, when the TrainingLoop
// reads the batch ahead); the rows of the distinct keys come with the answer
// of the push before the batch's compute (a training lookup: admission and
// ttl count it); the graph is fed those rows [U, dim] and each id's position
// in them, and computes; the gradient with respect to the rows (sparse:
// positions and [n, dim] values) is summed per key into [U, dim] and handed
// on with the dense gradients as a table gradient (VariableGradient::table,
// rows = the keys), which PsClient::PushPull routes by key. No [V, dim]
// tensor exists anywhere.
//
// A batch whose rows no push brought (the first of a run, see
// worker/training_loop.h) is looked up first: one lookupTables RPC per shard
// that holds some of its keys (PsClient::LookupTables).
//
// Evaluation reads the test split's keys once, reads their rows without
// changing the tables (lookupTables with train = false), and feeds each test
// batch from those.
//
// Threads: the job thread (the PsClient's); one operation at a time.
#pragma once

#include <memory>
#include <vector>

#include "core/job_spec.h"
#include "data/data_source.h"
#include "graph/table_input.h"
#include "net/table_keys.h"
#include "worker/model_metrics.h"
#include "worker/training_loop.h"

namespace flowps {

class ModelTowers;
class PsClient;

class TableSource final : public GradientSource {
 public:
  // REQUIRES: towers and ps outlive this object.
  TableSource(ModelTowers* towers, PsClient* ps, std::vector<TableInput> tables);

  // The feeds of the tables' placeholders, from the columns Compute adds to a
  // batch (named as the placeholders).
  static std::vector<FeedSpec> Feeds(const std::vector<TableInput>& tables);
  // OK when every table the model looks up is a table of the job (same dim),
  // and its ids column is a ragged int64 column of `schema`; the error names
  // the table and the job file.
  static Status CheckTables(const JobSpec& job, const std::vector<TableInput>& tables, const data::Schema& schema);

  kj::Promise<Status> Load(std::map<std::string, Tensor> values) override;
  void Release() override;
  // The batch's keys per table. InvalidArgument naming the table when the batch lacks its ids column.
  StatusOr<std::shared_ptr<TableReads>> PlanReads(const data::ColumnBatch& batch) override;
  kj::Promise<StatusOr<Gradients>> Compute(const data::ColumnBatch& batch, std::shared_ptr<TableReads> reads,
                                           const TraceContext& trace) override;
  // The model's metrics over `test` with the tables' current rows.
  // REQUIRES: `test` stays valid until the promise resolves.
  kj::Promise<StatusOr<TestMetrics>> Evaluate(const data::DataSource& test);

 private:
  ModelTowers* towers_;
  PsClient* ps_;
  std::vector<TableInput> tables_;
  // The gradients of `batch` whose `reads` have their rows.
  kj::Promise<StatusOr<Gradients>> ComputeWithRows(const data::ColumnBatch& batch, std::shared_ptr<TableReads> reads,
                                                   const TraceContext& trace);

  std::vector<std::string> table_names_;  // of tables_
  data::ColumnBatch batch_;  // the batch with the tables' columns, until its Compute resolves
};

}  // namespace flowps

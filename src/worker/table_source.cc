#include "worker/table_source.h"

#include <cstring>
#include <unordered_map>

#include "data/pipeline.h"
#include "net/ps_client.h"
#include "worker/data_input.h"
#include "worker/model_towers.h"

namespace flowps {
namespace {

std::string RowsColumn(const TableInput& t) { return t.rows.node->name(); }
std::string IndexColumn(const TableInput& t) { return t.index.node->name(); }

// The ids of `batch`'s column for table `t`: int64 [n].
StatusOr<Tensor> IdsOf(const data::ColumnBatch& batch, const TableInput& t) {
  auto it = batch.columns.find(t.ids_column);
  if (it == batch.columns.end() || it->second.dtype() != DType::kInt64 || it->second.shape().rank() != 1)
    return InvalidArgument("embedding table '" + t.table + "': the batch has no int64 ids column '" + t.ids_column + "'");
  return it->second;
}

// The looked-up rows of one table, the shards' in shard order: [U, dim].
Tensor ConcatenateRows(const std::vector<Tensor>& shard_rows, int64_t distinct, int64_t dim) {
  Tensor rows(DType::kFloat32, Shape{distinct, dim});
  char* out = static_cast<char*>(rows.raw_data());
  for (const Tensor& t : shard_rows) {
    if (!t.valid() || t.num_elements() == 0) continue;
    std::memcpy(out, t.raw_data(), t.num_bytes());
    out += t.num_bytes();
  }
  return rows;
}

Tensor IndexTensor(const std::vector<int32_t>& index) {
  return Tensor::FromVector<int32_t>(Shape{static_cast<int64_t>(index.size())}, index);
}

// A table's gradient by position (rows = positions into the fed rows) summed
// per key: rows = the keys, values [U, dim].
Status SumByKey(const TableKeys& keys, int64_t dim, VariableGradient* g) {
  std::vector<int64_t> distinct = keys.ConcatenatedKeys();
  Tensor summed(DType::kFloat32, Shape{static_cast<int64_t>(distinct.size()), dim});
  float* out = summed.data<float>();
  std::fill(out, out + summed.num_elements(), 0.0f);
  const float* in = g->values.data<float>();
  for (size_t i = 0; i < g->rows.size(); ++i) {
    const int64_t pos = g->rows[i];
    if (pos < 0 || pos >= static_cast<int64_t>(distinct.size()))
      return Internal("embedding table '" + g->variable + "': a gradient row outside the rows fed");
    for (int64_t j = 0; j < dim; ++j) out[pos * dim + j] += in[static_cast<int64_t>(i) * dim + j];
  }
  g->rows = std::move(distinct);
  g->values = summed;
  return Status::OK();
}

}  // namespace

TableSource::TableSource(ModelTowers* towers, PsClient* ps, std::vector<TableInput> tables)
    : towers_(towers), ps_(ps), tables_(std::move(tables)) {
  for (const TableInput& t : tables_) table_names_.push_back(t.table);
}

std::vector<FeedSpec> TableSource::Feeds(const std::vector<TableInput>& tables) {
  std::vector<FeedSpec> feeds;
  for (const TableInput& t : tables) {
    feeds.push_back({t.rows.node->name(), RowsColumn(t), "embedding table '" + t.table + "'"});
    feeds.push_back({t.index.node->name(), IndexColumn(t), "embedding table '" + t.table + "'"});
  }
  return feeds;
}

Status TableSource::CheckTables(const JobSpec& job, const std::vector<TableInput>& tables, const data::Schema& schema) {
  for (const TableInput& t : tables) {
    const TableConfig* config = nullptr;
    for (const TableConfig& c : job.tables)
      if (c.name == t.table) config = &c;
    if (config == nullptr)
      return InvalidArgument(job.source + ": key 'tables': the model looks up embedding table '" + t.table +
                             "', which the job does not define");
    if (config->dim != t.dim)
      return InvalidArgument(config->where + ": key 'tables." + t.table + ".dim' is " + std::to_string(config->dim) +
                             " but the model looks the table up with dim " + std::to_string(t.dim));
    const data::ColumnSpec* col = data::FindColumn(schema, t.ids_column);
    if (col == nullptr || !col->ragged() || col->dtype != DType::kInt64)
      return InvalidArgument(job.data.where + ": embedding table '" + t.table + "' takes its keys from column '" +
                             t.ids_column + "', which the data has not as ragged int64 (it has " +
                             data::DescribeSchema(schema) + ")");
  }
  return Status::OK();
}

kj::Promise<Status> TableSource::Load(std::map<std::string, Tensor> values) {
  return towers_->Load(std::move(values));
}

void TableSource::Release() { towers_->Release(); }

StatusOr<std::shared_ptr<TableReads>> TableSource::PlanReads(const data::ColumnBatch& batch) {
  std::vector<TableKeys> keys;
  for (const TableInput& t : tables_) {
    FLOWPS_ASSIGN_OR_RETURN(Tensor ids, IdsOf(batch, t));
    keys.emplace_back(ids.data<int64_t>(), ids.num_elements(), ps_->num_shards());
  }
  return std::make_shared<TableReads>(table_names_, std::move(keys));
}

kj::Promise<StatusOr<GradientSource::Gradients>> TableSource::Compute(const data::ColumnBatch& batch,
                                                                       std::shared_ptr<TableReads> reads,
                                                                       const TraceContext& trace) {
  if (reads == nullptr) {
    StatusOr<std::shared_ptr<TableReads>> planned = PlanReads(batch);
    if (!planned.ok()) return StatusOr<Gradients>(planned.status());
    reads = *planned;
  }
  if (reads->rows) return ComputeWithRows(batch, std::move(reads), trace);
  // No push brought the rows: a lookup of their own.
  return ps_->LookupTables(reads->requests, true).then([this, &batch, reads, trace](TableLookupResult looked_up) mutable {
    reads->rows = std::move(looked_up);
    return ComputeWithRows(batch, std::move(reads), trace);
  });
}

kj::Promise<StatusOr<GradientSource::Gradients>> TableSource::ComputeWithRows(const data::ColumnBatch& batch,
                                                                               std::shared_ptr<TableReads> reads,
                                                                               const TraceContext& trace) {
  if (reads->rows->rows.size() != tables_.size())
    return StatusOr<Gradients>(Internal("embedding tables: rows of " + std::to_string(reads->rows->rows.size()) +
                                        " tables read for " + std::to_string(tables_.size())));
  batch_ = batch;  // the columns share their buffers
  for (size_t i = 0; i < tables_.size(); ++i) {
    const TableInput& t = tables_[i];
    batch_.columns[RowsColumn(t)] = ConcatenateRows(reads->rows->rows[i], reads->keys[i].num_distinct(), t.dim);
    batch_.columns[IndexColumn(t)] = IndexTensor(reads->keys[i].ConcatenatedIndex());
  }
  return towers_->Compute(batch_, nullptr, trace).then([this, reads](StatusOr<Gradients> computed) -> StatusOr<Gradients> {
    if (!computed.ok()) return computed;
    size_t table = 0;
    for (VariableGradient& g : computed->grads) {
      if (!g.table) continue;
      FLOWPS_RETURN_IF_ERROR(SumByKey(reads->keys[table], tables_[table].dim, &g));
      ++table;
    }
    return computed;
  });
}

kj::Promise<StatusOr<TestMetrics>> TableSource::Evaluate(const data::DataSource& test) {
  // Every id of the test split, per table.
  std::vector<std::vector<int64_t>> ids(tables_.size());
  data::PipelineOptions once;
  once.batch_size = 1000;
  once.epochs = 1;
  StatusOr<std::unique_ptr<data::Pipeline>> batches = data::Pipeline::Start(test, once);
  if (!batches.ok()) return StatusOr<TestMetrics>(batches.status());
  for (;;) {
    StatusOr<data::ColumnBatch> b = (*batches)->Next();
    if (!b.ok() && b.status().code() == Code::kOutOfRange) break;
    if (!b.ok()) return StatusOr<TestMetrics>(b.status());
    for (size_t i = 0; i < tables_.size(); ++i) {
      StatusOr<Tensor> t = IdsOf(*b, tables_[i]);
      if (!t.ok()) return StatusOr<TestMetrics>(t.status());
      ids[i].insert(ids[i].end(), t->data<int64_t>(), t->data<int64_t>() + t->num_elements());
    }
  }
  auto keys = std::make_shared<std::vector<TableKeys>>();
  std::vector<TableLookupRequest> requests;
  for (size_t i = 0; i < tables_.size(); ++i)
    keys->emplace_back(ids[i].data(), static_cast<int64_t>(ids[i].size()), ps_->num_shards());
  for (size_t i = 0; i < tables_.size(); ++i) requests.push_back({tables_[i].table, &(*keys)[i]});
  return ps_->LookupTables(std::move(requests), false)
      .then([this, keys, &test](TableLookupResult looked_up) {
        // Per table: the test split's rows and each key's position in them.
        struct Rows {
          Tensor rows;
          std::unordered_map<int64_t, int32_t> position;
        };
        auto rows = std::make_shared<std::vector<Rows>>();
        for (size_t i = 0; i < tables_.size(); ++i) {
          Rows r{ConcatenateRows(looked_up.rows[i], (*keys)[i].num_distinct(), tables_[i].dim), {}};
          const std::vector<int64_t> distinct = (*keys)[i].ConcatenatedKeys();
          for (size_t k = 0; k < distinct.size(); ++k) r.position.emplace(distinct[k], static_cast<int32_t>(k));
          rows->push_back(std::move(r));
        }
        std::vector<TableInput> tables = tables_;
        ExtraColumns extra = [rows, tables](data::ColumnBatch* b) -> Status {
          for (size_t i = 0; i < tables.size(); ++i) {
            FLOWPS_ASSIGN_OR_RETURN(Tensor t, IdsOf(*b, tables[i]));
            std::vector<int32_t> index;
            const auto& position = (*rows)[i].position;
            for (int64_t j = 0; j < t.num_elements(); ++j) {
              auto it = position.find(t.data<int64_t>()[j]);
              if (it == position.end()) return Internal("a test key was not read before the evaluation");
              index.push_back(it->second);
            }
            b->columns[RowsColumn(tables[i])] = (*rows)[i].rows;
            b->columns[IndexColumn(tables[i])] = IndexTensor(index);
          }
          return Status::OK();
        };
        return towers_->Evaluate(test, std::move(extra));
      });
}

}  // namespace flowps

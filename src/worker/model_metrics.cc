#include "worker/model_metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "data/pipeline.h"
#include "graph/model_roles.h"
#include "worker/data_input.h"
#include "worker/local_model.h"

namespace flowps {
namespace {

// A stateful model's test pass: at most this many streams, each at least
// this many batches long (the state has time to matter).
constexpr int64_t kMaxEvalStreams = 64;
constexpr int64_t kMinStreamBatches = 16;

int64_t LabelAt(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kInt64 ? t.data<int64_t>()[i] : t.data<int32_t>()[i];
}

// Running totals of one metric.
struct Accumulator {
  MetricKind kind = MetricKind::kMean;
  double sum = 0;
  int64_t count = 0;
  std::vector<float> scores;    // auc
  std::vector<int64_t> labels;  // auc

  void Add(const std::vector<Tensor>& values, int64_t batch_rows) {
    const Tensor& a = values[0];
    switch (kind) {
      case MetricKind::kMean:
      case MetricKind::kPerplexity:
        if (a.shape().rank() == 0) {
          sum += static_cast<double>(a.data<float>()[0]) * static_cast<double>(batch_rows);
          count += batch_rows;
        } else {
          for (int64_t i = 0; i < a.num_elements(); ++i) sum += a.data<float>()[i];
          count += a.num_elements();
        }
        break;
      case MetricKind::kAccuracy:
        sum += static_cast<double>(CountCorrect(a, values[1]));
        count += a.shape().dim(0);
        break;
      case MetricKind::kAuc:
        for (int64_t i = 0; i < a.num_elements(); ++i) {
          scores.push_back(a.data<float>()[i]);
          labels.push_back(LabelAt(values[1], i));
        }
        break;
    }
  }
  double Value() const {
    if (kind == MetricKind::kAuc) return AreaUnderCurve(scores, labels);
    const double mean = count > 0 ? sum / static_cast<double>(count) : 0.0;
    return kind == MetricKind::kPerplexity ? std::exp(mean) : mean;
  }
};

}  // namespace

double AreaUnderCurve(const std::vector<float>& scores, const std::vector<int64_t>& labels) {
  const size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double positive_rank_sum = 0;
  int64_t positives = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) ++j;
    const double rank = static_cast<double>(i + j) / 2 + 1;  // ties share their mean rank
    for (size_t k = i; k <= j; ++k)
      if (labels[order[k]] != 0) positive_rank_sum += rank, ++positives;
    i = j + 1;
  }
  const int64_t negatives = static_cast<int64_t>(n) - positives;
  if (positives == 0 || negatives == 0) return std::nan("");
  const double p = static_cast<double>(positives);
  return (positive_rank_sum - p * (p + 1) / 2) / (p * static_cast<double>(negatives));
}

StatusOr<TestMetrics> EvaluateMetrics(const data::DataSource& test, const std::vector<FeedSpec>& feeds,
                                      LocalModel* model, const ExtraColumns& extra) {
  const GraphRoles& roles = model->model().graph->roles();
  std::vector<Output> fetches = {roles.loss};
  std::vector<std::pair<std::string, Accumulator>> metrics = {{"loss", Accumulator{}}};
  std::vector<size_t> first = {0};  // metric i's tensors are fetches[first[i]...]
  for (const MetricRole& m : roles.metrics) {
    FLOWPS_ASSIGN_OR_RETURN(MetricKind kind, ParseMetricKind(m.kind));
    first.push_back(fetches.size());
    fetches.insert(fetches.end(), m.tensors.begin(), m.tensors.end());
    metrics.push_back({m.name, Accumulator{kind}});
  }
  data::PipelineOptions once;
  once.batch_size = 1000;
  once.epochs = 1;
  // A model that carries recurrent state is evaluated as it trains: over
  // contiguous streams of the test data, with a state of its own carried from
  // batch to batch (the records past the streams' ends are left out).
  const bool streams = model->carries_state() && model->num_states() > 0;
  std::vector<Tensor> state;
  if (streams) {
    FLOWPS_ASSIGN_OR_RETURN(const int64_t records, data::CountExamples(test));
    once.batch_size = std::clamp<int64_t>(records / kMinStreamBatches, 1, kMaxEvalStreams);
    once.contiguous = true;
  }
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<data::Pipeline> batches, data::Pipeline::Start(test, once));
  for (;;) {
    StatusOr<data::ColumnBatch> b = batches->Next();
    if (!b.ok() && b.status().code() == Code::kOutOfRange) break;
    if (!b.ok()) return b.status();
    if (extra) FLOWPS_RETURN_IF_ERROR(extra(&*b));
    FLOWPS_ASSIGN_OR_RETURN(std::vector<Tensor> out, streams ? model->Fetch(BindFeeds(feeds, *b), fetches, &state)
                                                             : model->Fetch(BindFeeds(feeds, *b), fetches));
    for (size_t i = 0; i < metrics.size(); ++i) {
      const size_t n = i == 0 ? 1 : roles.metrics[i - 1].tensors.size();
      metrics[i].second.Add(std::vector<Tensor>(out.begin() + static_cast<std::ptrdiff_t>(first[i]),
                                                out.begin() + static_cast<std::ptrdiff_t>(first[i] + n)),
                            b->size);
    }
  }
  TestMetrics result;
  for (const auto& [name, acc] : metrics) result[name] = acc.Value();
  return result;
}

std::string FormatMetrics(const TestMetrics& metrics) {
  std::string out;
  for (const auto& [name, value] : metrics) {
    out += out.empty() ? "" : ", ";
    out += name == "accuracy" ? fmt::format("{} {:.2f}%", name, 100.0 * value) : fmt::format("{} {:.4f}", name, value);
  }
  return out;
}

}  // namespace flowps

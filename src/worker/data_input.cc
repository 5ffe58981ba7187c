#include "worker/data_input.h"

#include <set>

#include "graph/attr.h"

namespace flowps {

std::vector<FeedSpec> EffectiveFeeds(const DataSpec& data) {
  if (!data.feeds.empty()) return data.feeds;
  return {{"x", "features", data.where}, {"y", "label", data.where}};
}

Status CheckFeeds(const DataSpec& data, const Graph& graph, const data::Schema& schema, const std::string& split) {
  const bool given = !data.feeds.empty();
  std::set<std::string> fed;
  for (const FeedSpec& f : EffectiveFeeds(data)) {
    const std::string at = f.where + ": key 'data.feeds" + (given ? "." + f.placeholder : std::string()) + "'" +
                           (given ? "" : " (default " + f.placeholder + " <- " + f.column + ")") + ": ";
    const data::ColumnSpec* col = data::FindColumn(schema, f.column);
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
    if (n->op() == "Placeholder" && fed.count(n->name()) == 0)
      return InvalidArgument(data.where + ": key 'data.feeds': the model's placeholder '" + n->name() +
                             "' is fed by no column");
  return Status::OK();
}

NamedFeeds BindFeeds(const std::vector<FeedSpec>& feeds, const data::ColumnBatch& batch) {
  NamedFeeds out;
  for (const FeedSpec& f : feeds) out.emplace_back(f.placeholder, batch.columns.at(f.column));
  return out;
}

}  // namespace flowps

#include "graph/table_input.h"

#include <map>

#include "graph/attr.h"
#include "graph/ops.h"

namespace flowps {

Output TableLookup(Graph& g, const std::string& table, int64_t dim, const std::string& ids_column) {
  const std::string rows_name = table + "/rows", index_name = table + "/index";
  Node* rows = g.FindNode(rows_name);
  Node* index = g.FindNode(index_name);
  if (rows == nullptr) {
    rows = g.AddNodeOrRecord(NodeSpec{"Placeholder", rows_name, {}, {},
                                      {{"dtype", DType::kFloat32},
                                       {"shape", Shape{-1, dim}},
                                       {"table", table},
                                       {"ids_column", ids_column},
                                       {"dim", dim}},
                                      ""});
    index = g.AddNodeOrRecord(NodeSpec{
        "Placeholder", index_name, {}, {}, {{"dtype", DType::kInt32}, {"shape", Shape{-1}}, {"table_index", table}}, ""});
  } else if (GetAttrOr<int64_t>(rows->attrs(), "dim", -1) != dim ||
             GetAttrOr<std::string>(rows->attrs(), "ids_column", "") != ids_column) {
    g.RecordError(InvalidArgument("embedding table '" + table + "' is looked up with dim " + std::to_string(dim) +
                                  " from column '" + ids_column + "', but before with another dim or column"));
  }
  if (rows == nullptr || index == nullptr) return Output{};
  return Gather(Output{rows, 0}, Output{index, 0});
}

bool IsTableInput(const Node& node) {
  return node.op() == "Placeholder" && (node.attrs().count("table") != 0 || node.attrs().count("table_index") != 0);
}

StatusOr<std::vector<TableInput>> TableInputs(const Graph& graph) {
  std::vector<TableInput> tables;
  std::map<std::string, Node*> index;
  for (const auto& n : graph.nodes()) {
    if (n->op() != "Placeholder") continue;
    const std::string where = "node '" + n->name() + "' (Placeholder)";
    if (n->attrs().count("table_index") != 0) {
      const std::string t = GetAttrOr<std::string>(n->attrs(), "table_index", "");
      if (n->output_dtype(0) != DType::kInt32 || n->output_shape(0).rank() != 1)
        return InvalidArgument(where + ": the index of table '" + t + "' must be int32 [-1]");
      if (!index.emplace(t, n.get()).second) return InvalidArgument(where + ": table '" + t + "' has two index inputs");
      continue;
    }
    if (n->attrs().count("table") == 0) continue;
    TableInput in;
    in.table = GetAttrOr<std::string>(n->attrs(), "table", "");
    in.ids_column = GetAttrOr<std::string>(n->attrs(), "ids_column", "ids");
    in.dim = GetAttrOr<int64_t>(n->attrs(), "dim", -1);
    const Shape& shape = n->output_shape(0);
    if (in.table.empty() || n->output_dtype(0) != DType::kFloat32 || shape.rank() != 2 || shape.dim(1) != in.dim ||
        in.dim < 1)
      return InvalidArgument(where + ": the rows of table '" + in.table + "' must be float32 [-1, dim] with dim >= 1");
    for (const TableInput& other : tables)
      if (other.table == in.table) return InvalidArgument(where + ": table '" + in.table + "' has two rows inputs");
    in.rows = Output{n.get(), 0};
    tables.push_back(std::move(in));
  }
  for (TableInput& t : tables) {
    auto it = index.find(t.table);
    if (it == index.end()) return InvalidArgument("embedding table '" + t.table + "' has rows but no index input");
    t.index = Output{it->second, 0};
    index.erase(it);
  }
  if (!index.empty())
    return InvalidArgument("embedding table '" + index.begin()->first + "' has an index but no rows input");
  return tables;
}

}  // namespace flowps

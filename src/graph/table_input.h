// How a graph looks up a hash-keyed embedding table held by the ps
// (ps/embedding_table.h), without a dense [V, d] tensor anywhere.
//
// For each table the graph has two Placeholders the worker feeds per batch:
//   "<table>/rows"   float32 [-1, dim]: the rows of the batch's distinct keys
//                    (attrs: table = the table's name, ids_column = the data
//                    column of int64 keys, dim)
//   "<table>/index"  int32 [-1]: for each id of the batch, its row in rows
//                    (attr: table_index = the table's name)
// so that Gather(rows, index) is the row of every id, [n, dim]; a combiner
// (SegmentCombine over the ragged batch's offsets) sums or averages each
// example's rows. The gradient with respect to rows is the sparse gradient of
// the Gather (the positions and [n, dim] values), which the worker sums per
// key and pushes (worker/table_source.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"

namespace flowps {

struct TableInput {
  std::string table;
  std::string ids_column;  // the int64 (ragged) column of the batch's keys
  int64_t dim = 0;
  Output rows;   // Placeholder float32 [-1, dim]
  Output index;  // Placeholder int32 [-1]
};

// The rows of every id of `ids_column` in table `table` of `dim`, [n, dim]:
// Gather(rows, index) over the table's placeholders (made on first use;
// a table is looked up from one column with one dim, else the graph's
// status says why).
Output TableLookup(Graph& g, const std::string& table, int64_t dim, const std::string& ids_column = "ids");

// The tables `graph` looks up, in graph order. InvalidArgument naming the
// node when a table's placeholders are malformed or one of the pair is missing.
StatusOr<std::vector<TableInput>> TableInputs(const Graph& graph);

// True for the Placeholders the worker feeds from tables (not from columns).
bool IsTableInput(const Node& node);

}  // namespace flowps

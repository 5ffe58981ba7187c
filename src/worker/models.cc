#include "worker/models.h"

#include <fstream>
#include <sstream>

#include "graph/graph_def.h"
#include "graph/model_roles.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/table_input.h"
#include "worker/lstm_lm.h"

namespace flowps {
namespace {

using kernels::InitializerKind;
using kernels::InitializerSpec;

InitializerSpec Zeros() { return {}; }

InitializerSpec HeNormal(uint64_t seed) {
  InitializerSpec s;
  s.kind = InitializerKind::kHeNormal;
  s.seed = seed;
  return s;
}

// x [n, in] -> x W + b, W He-initialised (zeros with he = false).
Output Dense(Graph& g, Output x, int64_t in, int64_t out, const std::string& name, bool he, uint64_t seed) {
  Output w = Variable(g, name + "/W", Shape{in, out}, he ? HeNormal(seed) : Zeros());
  Output b = Variable(g, name + "/b", Shape{out}, Zeros());
  return BiasAdd(MatMul(x, w), b);
}

Output ConvLayer(Graph& g, Output x, int64_t k, int64_t in, int64_t out, const std::string& name, uint64_t seed) {
  Output w = Variable(g, name + "/W", Shape{k, k, in, out}, HeNormal(seed));
  Output b = Variable(g, name + "/b", Shape{out}, Zeros());
  Output y = Relu(BiasAdd(Conv2D(x, w, {1, 1}, "SAME"), b));
  return MaxPool(y, {2, 2}, {2, 2}, "SAME");
}

Output BuildLogits(Graph& g, Output x, const ModelSpec& spec) {
  uint64_t seed = static_cast<uint64_t>(spec.seed);
  switch (spec.kind) {
    case ModelKind::kSoftmax:
      return Dense(g, x, kImageFeatures, kNumClasses, "softmax", false, seed);
    case ModelKind::kMlp: {
      Output h = x;
      int64_t width = kImageFeatures;
      for (size_t i = 0; i < spec.hidden.size(); ++i) {
        h = Relu(Dense(g, h, width, spec.hidden[i], "hidden" + std::to_string(i), true, seed + i));
        width = spec.hidden[i];
      }
      return Dense(g, h, width, kNumClasses, "out", true, seed + spec.hidden.size());
    }
    case ModelKind::kCnn: {
      Output img = Reshape(x, Shape{-1, 28, 28, 1});
      Output c1 = ConvLayer(g, img, 5, 1, 32, "conv1", seed);
      Output c2 = ConvLayer(g, c1, 5, 32, 64, "conv2", seed + 1);
      Output flat = Reshape(c2, Shape{-1, 7 * 7 * 64});
      Output h = Relu(Dense(g, flat, 7 * 7 * 64, 128, "dense", true, seed + 2));
      return Dense(g, h, 128, kNumClasses, "out", true, seed + 3);
    }
    case ModelKind::kWideDeep:
    case ModelKind::kLstmLm:  // BuildLstmLmGraph
    case ModelKind::kGraphFile:
      break;
  }
  return {};
}

// wide_deep: the click logit of a libsvm batch (ids, offsets) is
//   wide: the sum of the example's rows of table 'wide' (dim 1, a linear model on the ids)
//   deep: an MLP (spec.hidden, ReLU) on the sum of its rows of table 'deep'
// added; the loss is the mean log loss, read as softmax cross-entropy of the
// two logits [0, z] (stable for any z). Metrics: auc of sigmoid(z), log_loss.
StatusOr<std::unique_ptr<Graph>> BuildWideDeepGraph(const ModelSpec& spec, const OpRegistry* registry) {
  if (spec.embedding_dim < 1) return InvalidArgument("model wide_deep: the table 'deep' has no dim");
  auto g = std::make_unique<Graph>(registry);
  const uint64_t seed = static_cast<uint64_t>(spec.seed);
  Output offsets = Placeholder(*g, DType::kInt64, Shape{-1}, "offsets");
  Output y = Placeholder(*g, DType::kInt32, Shape{-1}, "y");
  Output wide = SegmentCombine(TableLookup(*g, "wide", 1, "ids"), offsets, "sum");
  Output h = SegmentCombine(TableLookup(*g, "deep", spec.embedding_dim, "ids"), offsets, "sum");
  int64_t width = spec.embedding_dim;
  for (size_t i = 0; i < spec.hidden.size(); ++i) {
    h = Relu(Dense(*g, h, width, spec.hidden[i], "deep/hidden" + std::to_string(i), true, seed + i));
    width = spec.hidden[i];
  }
  Output z = Dense(*g, h, width, 1, "deep/out", true, seed + spec.hidden.size()) + wide;  // [b, 1]
  Output logits = Concat({ZerosLike(z), z}, 1);
  Output per_example = SparseSoftmaxCrossEntropyWithLogits(logits, y);
  Output loss = NamedIdentity(ReduceMean(per_example), "loss");
  Output score = NamedIdentity(Reshape(Sigmoid(z), Shape{-1}), "score");
  FLOWPS_RETURN_IF_ERROR(g->status().WithContext("building model wide_deep"));
  GraphRoles& roles = g->roles();
  roles.inputs = {{y.node, "label"}, {offsets.node, "offsets"}};
  roles.loss = loss;
  roles.metrics = {{"auc", "auc", {score, y}}, {"log_loss", "mean", {per_example}}};
  return g;
}

// The node `name` when it is a Placeholder of `dtype` and rank `rank`.
Output ImagePlaceholder(const Graph& g, const std::string& name, DType dtype, int rank) {
  Node* n = g.FindNode(name);
  if (n == nullptr || n->op() != "Placeholder" || n->output_dtype(0) != dtype || n->output_shape(0).rank() != rank)
    return {};
  return n->output(0);
}

}  // namespace

Output NamedIdentity(Output o, const std::string& name) {
  if (!o.valid()) return o;
  Node* n = o.graph()->AddNodeOrRecord(NodeSpec{"Identity", name, {o}, {}, {}, ""});
  return n == nullptr ? Output{} : n->output(0);
}

StatusOr<std::unique_ptr<Graph>> BuildBuiltinGraph(const ModelSpec& spec, const OpRegistry* registry) {
  if (spec.kind == ModelKind::kGraphFile) return InvalidArgument("a graph-file model is not a built-in");
  if (spec.kind == ModelKind::kWideDeep) return BuildWideDeepGraph(spec, registry);
  if (spec.kind == ModelKind::kLstmLm) return BuildLstmLmGraph(spec, registry);
  auto g = std::make_unique<Graph>(registry);
  Output x = Placeholder(*g, DType::kFloat32, Shape{-1, kImageFeatures}, "x");
  Output y = Placeholder(*g, DType::kInt32, Shape{-1}, "y");
  Output logits = NamedIdentity(BuildLogits(*g, x, spec), "logits");
  Output loss = NamedIdentity(ReduceMean(SparseSoftmaxCrossEntropyWithLogits(logits, y)), "loss");
  FLOWPS_RETURN_IF_ERROR(g->status().WithContext(std::string("building model ") + ModelKindName(spec.kind)));
  GraphRoles& roles = g->roles();
  roles.inputs = {{x.node, "features"}, {y.node, "label"}};
  roles.loss = loss;
  roles.metrics = {{"accuracy", "accuracy", {logits, y}}};
  return g;
}

StatusOr<Model> ModelFromGraph(std::unique_ptr<Graph> graph, const std::string& where) {
  FLOWPS_RETURN_IF_ERROR(ValidateModel(*graph).WithContext(where));
  Model m;
  m.graph = std::move(graph);
  const Graph& g = *m.graph;
  m.loss = g.roles().loss;
  for (const auto& n : g.nodes()) {
    if (n->op() == "Assign")
      return InvalidArgument(where + ": node '" + n->name() + "' is an Assign; flowps adds the updates itself");
    if (n->op() != "Variable") continue;
    std::string var = std::get<std::string>(n->attrs().at("var_name"));
    for (const ModelVariable& v : m.variables)
      if (v.name == var) return InvalidArgument(where + ": variable '" + var + "' is read by two Variable nodes");
    FLOWPS_ASSIGN_OR_RETURN(auto init, InitializerFromAttrs(n->attrs()));  // ValidateModel: present and valid
    const Shape& shape = n->output_shape(0);
    const int64_t rows = shape.rank() == 0 ? 1 : shape.dim(0);
    m.variables.push_back({var, n->output(0), kernels::Initialize(*init, shape, 0, rows), *init});
  }
  auto tables = TableInputs(g);
  if (!tables.ok()) return tables.status().WithContext(where);
  m.tables = std::move(tables).value();
  if (m.variables.empty() && m.tables.empty()) return InvalidArgument(where + ": the graph has no Variable to train");
  m.x = ImagePlaceholder(g, "x", DType::kFloat32, 2);
  m.y = ImagePlaceholder(g, "y", DType::kInt32, 1);
  for (const MetricRole& metric : g.roles().metrics)
    if (metric.kind == "accuracy" && metric.name == "accuracy") m.logits = metric.tensors[0];
  return m;
}

StatusOr<Model> BuildModel(const ModelSpec& spec, const OpRegistry* registry) {
  if (spec.kind != ModelKind::kGraphFile) {
    FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<Graph> g, BuildBuiltinGraph(spec, registry));
    return ModelFromGraph(std::move(g), std::string("built-in model ") + ModelKindName(spec.kind));
  }
  if (!spec.graph_def.empty()) {
    auto g = DeserializeGraph(spec.graph_def, registry);
    if (!g.ok()) return g.status().WithContext("the job's graph (" + spec.graph_file + ")");
    return ModelFromGraph(std::move(g).value(), spec.graph_file);
  }
  FLOWPS_ASSIGN_OR_RETURN(std::unique_ptr<Graph> g, ReadGraphFile(spec.graph_file, registry));
  return ModelFromGraph(std::move(g), spec.graph_file);
}

Status CheckModelGraph(const std::string& bytes, const std::string& where) {
  OpRegistry registry;
  FLOWPS_RETURN_IF_ERROR(RegisterStandardOps(&registry));
  auto g = DeserializeGraph(bytes, &registry);
  if (!g.ok()) return g.status().WithContext(where);
  return ValidateModel(**g).WithContext(where);
}

StatusOr<std::string> ReadModelGraphFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(path + ": cannot read the graph file");
  std::stringstream bytes;
  bytes << in.rdbuf();
  FLOWPS_RETURN_IF_ERROR(CheckModelGraph(bytes.str(), path));
  return bytes.str();
}

int64_t CountCorrect(const Tensor& logits, const Tensor& labels) {
  const int64_t n = logits.shape().dim(0), c = logits.shape().dim(1);
  const float* p = logits.data<float>();
  const int64_t* l64 = labels.dtype() == DType::kInt64 ? labels.data<int64_t>() : nullptr;
  const int32_t* l32 = l64 == nullptr ? labels.data<int32_t>() : nullptr;
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = p + i * c;
    int64_t best = 0;
    for (int64_t j = 1; j < c; ++j)
      if (row[j] > row[best]) best = j;
    correct += best == (l64 != nullptr ? l64[i] : l32[i]);
  }
  return correct;
}

}  // namespace flowps

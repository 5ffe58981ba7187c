#include "worker/models.h"

#include <cmath>

#include "graph/graph_def.h"
#include "graph/ops.h"

namespace flowps {
namespace {

// Adds a variable with its initial value drawn from `init`.
Output AddVariable(Model& m, const std::string& name, Shape shape, kernels::InitializerSpec init) {
  Output read = Variable(*m.graph, name, shape);
  if (!read.valid()) return read;
  std::string var_name = std::get<std::string>(read.node->attrs().at("var_name"));
  int64_t rows = shape.rank() == 0 ? 1 : shape.dim(0);
  m.variables.push_back({var_name, read, kernels::Initialize(init, shape, 0, rows), init});
  return read;
}

kernels::InitializerSpec Zeros() { return {}; }

// An Identity of `o` named `name`, so the contract's names exist in the graph.
Output Named(Output o, const std::string& name) {
  if (!o.valid()) return o;
  Node* n = o.graph()->AddNodeOrRecord(NodeSpec{"Identity", name, {o}, {}, {}, ""});
  return n == nullptr ? Output{} : n->output(0);
}

// He-normal: N(0, 2 / fan_in), seeded per variable.
kernels::InitializerSpec HeNormal(int64_t fan_in, uint64_t seed) {
  kernels::InitializerSpec s;
  s.kind = kernels::InitializerKind::kNormal;
  s.stddev = std::sqrt(2.0 / static_cast<double>(fan_in));
  s.seed = seed;
  return s;
}

// x [n, in] -> x W + b, W He-initialised (zeros with he = false).
Output Dense(Model& m, Output x, int64_t in, int64_t out, const std::string& name, bool he, uint64_t seed) {
  Output w = AddVariable(m, name + "/W", Shape{in, out}, he ? HeNormal(in, seed) : Zeros());
  Output b = AddVariable(m, name + "/b", Shape{out}, Zeros());
  return BiasAdd(MatMul(x, w), b);
}

Output ConvLayer(Model& m, Output x, int64_t k, int64_t in, int64_t out, const std::string& name, uint64_t seed) {
  Output w = AddVariable(m, name + "/W", Shape{k, k, in, out}, HeNormal(k * k * in, seed));
  Output b = AddVariable(m, name + "/b", Shape{out}, Zeros());
  Output y = Relu(BiasAdd(Conv2D(x, w, {1, 1}, "SAME"), b));
  return MaxPool(y, {2, 2}, {2, 2}, "SAME");
}

Output BuildLogits(Model& m, const ModelSpec& spec) {
  uint64_t seed = static_cast<uint64_t>(spec.seed);
  switch (spec.kind) {
    case ModelKind::kSoftmax:
      return Dense(m, m.x, kImageFeatures, kNumClasses, "softmax", false, seed);
    case ModelKind::kMlp: {
      Output h = m.x;
      int64_t width = kImageFeatures;
      for (size_t i = 0; i < spec.hidden.size(); ++i) {
        h = Relu(Dense(m, h, width, spec.hidden[i], "hidden" + std::to_string(i), true, seed + i));
        width = spec.hidden[i];
      }
      return Dense(m, h, width, kNumClasses, "out", true, seed + spec.hidden.size());
    }
    case ModelKind::kCnn: {
      Output img = Reshape(m.x, Shape{-1, 28, 28, 1});
      Output c1 = ConvLayer(m, img, 5, 1, 32, "conv1", seed);
      Output c2 = ConvLayer(m, c1, 5, 32, 64, "conv2", seed + 1);
      Output flat = Reshape(c2, Shape{-1, 7 * 7 * 64});
      Output h = Relu(Dense(m, flat, 7 * 7 * 64, 128, "dense", true, seed + 2));
      return Dense(m, h, 128, kNumClasses, "out", true, seed + 3);
    }
    case ModelKind::kGraphFile:
      break;
  }
  return {};
}

// The output 0 of the node `name`, checked against the contract.
StatusOr<Output> ContractOutput(const Graph& g, const std::string& path, const std::string& name, DType dtype,
                                const Shape& shape, const std::string& what) {
  Node* n = g.FindNode(name);
  if (n == nullptr || n->num_outputs() < 1)
    return InvalidArgument(path + ": the graph has no node '" + name + "' (" + what + ")");
  Output o = n->output(0);
  bool ok = o.dtype() == dtype && o.shape().rank() == shape.rank();
  for (int i = 0; ok && i < shape.rank(); ++i) ok = shape.dim(i) < 0 || o.shape().dim(i) == shape.dim(i);
  if (!ok)
    return InvalidArgument(path + ": node '" + name + "' must be " + DTypeName(dtype) + shape.ToString() + " (" +
                           what + "), it is " + DTypeName(o.dtype()) + o.shape().ToString());
  return o;
}

}  // namespace

StatusOr<Model> BuildModel(const ModelSpec& spec, const OpRegistry* registry) {
  if (spec.kind == ModelKind::kGraphFile) return LoadModelGraph(spec.graph_file, registry);
  Model m;
  m.graph = std::make_unique<Graph>(registry);
  m.x = Placeholder(*m.graph, DType::kFloat32, Shape{-1, kImageFeatures}, "x");
  m.y = Placeholder(*m.graph, DType::kInt32, Shape{-1}, "y");
  m.logits = Named(BuildLogits(m, spec), "logits");
  m.loss = Named(ReduceMean(SparseSoftmaxCrossEntropyWithLogits(m.logits, m.y)), "loss");
  FLOWPS_RETURN_IF_ERROR(m.graph->status().WithContext(std::string("building model ") + ModelKindName(spec.kind)));
  return m;
}

StatusOr<Model> LoadModelGraph(const std::string& path, const OpRegistry* registry) {
  Model m;
  FLOWPS_ASSIGN_OR_RETURN(m.graph, ReadGraphFile(path, registry));
  const Graph& g = *m.graph;
  FLOWPS_ASSIGN_OR_RETURN(m.x, ContractOutput(g, path, "x", DType::kFloat32, Shape{-1, kImageFeatures}, "the images"));
  FLOWPS_ASSIGN_OR_RETURN(m.y, ContractOutput(g, path, "y", DType::kInt32, Shape{-1}, "the labels"));
  FLOWPS_ASSIGN_OR_RETURN(m.logits, ContractOutput(g, path, "logits", DType::kFloat32, Shape{-1, kNumClasses}, "the logits"));
  FLOWPS_ASSIGN_OR_RETURN(m.loss, ContractOutput(g, path, "loss", DType::kFloat32, Shape{}, "the mean loss"));
  for (Node* placeholder : {m.x.node, m.y.node})
    if (placeholder->op() != "Placeholder")
      return InvalidArgument(path + ": node '" + placeholder->name() + "' must be a Placeholder, it is a " + placeholder->op());
  for (const auto& n : g.nodes()) {
    if (n->op() == "Assign")
      return InvalidArgument(path + ": node '" + n->name() + "' is an Assign; flowps adds the updates itself");
    if (n->op() != "Variable") continue;
    std::string var = std::get<std::string>(n->attrs().at("var_name"));
    for (const ModelVariable& v : m.variables)
      if (v.name == var) return InvalidArgument(path + ": variable '" + var + "' is read by two Variable nodes");
    Node* init = g.FindNode(var + "/initial_value");
    if (init == nullptr || init->op() != "Const")
      return InvalidArgument(path + ": variable '" + var + "' has no Const node '" + var + "/initial_value'");
    const Tensor& value = std::get<Tensor>(init->attrs().at("value"));
    FLOWPS_RETURN_IF_ERROR(value.Check(n->output_dtype(0), n->output_shape(0),
                                       path + ": initial value of variable '" + var + "'"));
    m.variables.push_back({var, n->output(0), value, std::nullopt});
  }
  if (m.variables.empty()) return InvalidArgument(path + ": the graph has no Variable to train");
  return m;
}

Status AddInitialValueNodes(Model* model) {
  for (const ModelVariable& v : model->variables) Const(*model->graph, v.initial_value, v.name + "/initial_value");
  return model->graph->status();
}

int64_t CountCorrect(const Tensor& logits, const Tensor& labels) {
  const int64_t n = logits.shape().dim(0), c = logits.shape().dim(1);
  const float* p = logits.data<float>();
  const int32_t* l = labels.data<int32_t>();
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = p + i * c;
    int64_t best = 0;
    for (int64_t j = 1; j < c; ++j)
      if (row[j] > row[best]) best = j;
    correct += best == l[i];
  }
  return correct;
}

}  // namespace flowps

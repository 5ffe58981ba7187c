#include "graph/model_roles.h"

#include <set>

#include "graph/op_registry.h"

namespace flowps {
namespace {

using kernels::InitializerKind;
using kernels::InitializerSpec;

// The float attributes each kind uses, with the spec field they fill.
struct FloatField {
  const char* attr;
  double InitializerSpec::*field;
};
std::vector<FloatField> FloatFields(InitializerKind kind) {
  switch (kind) {
    case InitializerKind::kConstant: return {{"init_value", &InitializerSpec::value}};
    case InitializerKind::kUniform: return {{"init_min", &InitializerSpec::min}, {"init_max", &InitializerSpec::max}};
    case InitializerKind::kNormal:
    case InitializerKind::kTruncatedNormal:
      return {{"init_mean", &InitializerSpec::mean}, {"init_stddev", &InitializerSpec::stddev}};
    default: return {};
  }
}

constexpr int64_t kMaxInitializedElements = int64_t{1} << 40;

std::string Where(const Node& n) { return "node '" + n.name() + "' (op " + n.op() + ")"; }

bool IsInt(DType d) { return d == DType::kInt32 || d == DType::kInt64; }

Status CheckMetric(const MetricRole& m) {
  std::string what = "metric '" + m.name + "'";
  auto parsed = ParseMetricKind(m.kind);
  if (!parsed.ok()) return parsed.status().WithContext(what);
  const MetricKind kind = *parsed;
  const size_t want = kind == MetricKind::kMean || kind == MetricKind::kPerplexity ? 1 : 2;
  if (m.tensors.size() != want)
    return InvalidArgument(what + " (" + m.kind + ") takes " + std::to_string(want) + " tensors, got " +
                           std::to_string(m.tensors.size()));
  for (const Output& t : m.tensors)
    if (!t.valid()) return InvalidArgument(what + ": a tensor is not set");
  auto bad = [&](const Output& t, const std::string& need) {
    return InvalidArgument(what + " (" + m.kind + "): node '" + t.node->name() + "' (op " + t.node->op() +
                           ") must be " + need + ", it is " + DTypeName(t.dtype()) + t.shape().ToString());
  };
  const Output& a = m.tensors[0];
  switch (kind) {
    case MetricKind::kMean:
    case MetricKind::kPerplexity:
      if (a.dtype() != DType::kFloat32 || a.shape().rank() > 1) return bad(a, "a float32 scalar or [N]");
      return Status::OK();
    case MetricKind::kAccuracy:
      if (a.dtype() != DType::kFloat32 || a.shape().rank() != 2) return bad(a, "float32 logits [N, C]");
      break;
    case MetricKind::kAuc:
      if (a.dtype() != DType::kFloat32 || a.shape().rank() != 1) return bad(a, "float32 scores [N]");
      break;
  }
  const Output& labels = m.tensors[1];
  if (!IsInt(labels.dtype()) || labels.shape().rank() != 1) return bad(labels, "int32 or int64 labels [N]");
  return Status::OK();
}

Status CheckInputs(const GraphRoles& roles) {
  if (roles.inputs.empty()) return InvalidArgument("the graph names no inputs (Placeholders fed from data columns)");
  std::set<std::string> columns;
  std::set<const Node*> seen;
  for (const InputRole& in : roles.inputs) {
    if (in.placeholder == nullptr) return InvalidArgument("an input role names no node");
    if (in.placeholder->op() != "Placeholder")
      return InvalidArgument(Where(*in.placeholder) + " is named as an input but is not a Placeholder");
    if (in.column.empty()) return InvalidArgument(Where(*in.placeholder) + ": input has no data column");
    if (!seen.insert(in.placeholder).second) return InvalidArgument(Where(*in.placeholder) + " is named as an input twice");
    if (!columns.insert(in.column).second)
      return InvalidArgument(Where(*in.placeholder) + ": data column '" + in.column + "' already feeds another input");
  }
  return Status::OK();
}

// Each state's initial value is a distinct float32 Placeholder [-1, ...] and
// its final value has the same shape.
Status CheckStates(const GraphRoles& roles) {
  std::set<const Node*> seen;
  for (const StateRole& s : roles.states) {
    if (s.initial == nullptr || !s.final.valid()) return InvalidArgument("a state role names no node");
    const std::string at = Where(*s.initial) + ": state";
    if (s.initial->op() != "Placeholder") return InvalidArgument(at + ": its initial value is not a Placeholder");
    if (!seen.insert(s.initial).second) return InvalidArgument(at + " is named twice");
    const Shape& shape = s.initial->output_shape(0);
    if (s.initial->output_dtype(0) != DType::kFloat32 || shape.rank() < 1 || shape.dim(0) != -1)
      return InvalidArgument(at + ": the initial value must be float32 [-1, ...] (the batch first), it is " +
                             DTypeName(s.initial->output_dtype(0)) + shape.ToString());
    if (s.final.dtype() != DType::kFloat32 || s.final.shape().rank() != shape.rank())
      return InvalidArgument(at + ": the final value " + s.final.name() + " is " + DTypeName(s.final.dtype()) +
                             s.final.shape().ToString() + ", not float32 " + shape.ToString());
    for (int d = 1; d < shape.rank(); ++d)
      if (s.final.shape().dim(d) != shape.dim(d))
        return InvalidArgument(at + ": the final value " + s.final.name() + " is " + s.final.shape().ToString() +
                               ", not " + shape.ToString());
  }
  return Status::OK();
}

}  // namespace

bool IsStateInput(const Graph& graph, const Node& node) {
  for (const StateRole& s : graph.roles().states)
    if (s.initial == &node) return true;
  return false;
}

void SetInitializerAttrs(const InitializerSpec& spec, AttrMap* attrs) {
  (*attrs)["init"] = std::string(kernels::InitializerKindName(spec.kind));
  if (kernels::IsRandomInitializer(spec.kind)) (*attrs)["init_seed"] = static_cast<int64_t>(spec.seed);
  for (const FloatField& f : FloatFields(spec.kind)) (*attrs)[f.attr] = spec.*(f.field);
}

StatusOr<std::optional<InitializerSpec>> InitializerFromAttrs(const AttrMap& attrs) {
  if (!attrs.count("init")) return std::optional<InitializerSpec>();
  FLOWPS_ASSIGN_OR_RETURN(std::string kind, GetAttr<std::string>(attrs, "init"));
  InitializerSpec spec;
  FLOWPS_ASSIGN_OR_RETURN(spec.kind, kernels::ParseInitializerKind(kind));
  if (kernels::IsRandomInitializer(spec.kind)) {
    FLOWPS_ASSIGN_OR_RETURN(int64_t seed, GetAttr<int64_t>(attrs, "init_seed"));
    spec.seed = static_cast<uint64_t>(seed);
  }
  for (const FloatField& f : FloatFields(spec.kind)) {
    FLOWPS_ASSIGN_OR_RETURN(spec.*(f.field), GetAttr<double>(attrs, f.attr));
  }
  FLOWPS_RETURN_IF_ERROR(spec.Validate());
  return std::optional<InitializerSpec>(spec);
}

Status InitializerFits(const InitializerSpec& spec, DType dtype, const Shape& shape) {
  if (dtype != DType::kFloat32)
    return InvalidArgument(std::string("initializer ") + kernels::InitializerKindName(spec.kind) +
                           " fills float32 variables only, this one is " + DTypeName(dtype));
  if (!shape.fully_defined())
    return InvalidArgument("an initialized variable needs a fully defined shape, got " + shape.ToString());
  int64_t elements = 1;
  for (int64_t d : shape.dims()) {
    if (d > 0 && elements > kMaxInitializedElements / d)
      return InvalidArgument("variable shape " + shape.ToString() + " has more than 2^40 elements");
    elements *= d;
  }
  return Status::OK();
}

Output Variable(Graph& g, const std::string& name, Shape shape, const InitializerSpec& init, DType dtype) {
  std::string full = g.ScopedName(name);
  AttrMap attrs{{"var_name", full}, {"dtype", dtype}, {"shape", shape}};
  SetInitializerAttrs(init, &attrs);
  Node* n = g.AddNodeOrRecord(NodeSpec{"Variable", name, {}, {}, std::move(attrs), ""});
  return n == nullptr ? Output{} : n->output(0);
}

const char* MetricKindName(MetricKind kind) {
  switch (kind) {
    case MetricKind::kMean: return "mean";
    case MetricKind::kAccuracy: return "accuracy";
    case MetricKind::kAuc: return "auc";
    case MetricKind::kPerplexity: return "perplexity";
  }
  return "unknown";
}

StatusOr<MetricKind> ParseMetricKind(const std::string& name) {
  for (MetricKind k : {MetricKind::kMean, MetricKind::kAccuracy, MetricKind::kAuc, MetricKind::kPerplexity})
    if (name == MetricKindName(k)) return k;
  return InvalidArgument("unknown metric kind '" + name + "' (expected mean, accuracy, auc or perplexity)");
}

Status ValidateModel(const Graph& graph) {
  for (const auto& n : graph.nodes()) {
    if (n->op() != "Variable") continue;
    auto init = InitializerFromAttrs(n->attrs());
    if (!init.ok()) return init.status().WithContext(Where(*n));
    if (!init->has_value())
      return InvalidArgument(Where(*n) + ": variable '" + GetAttrOr<std::string>(n->attrs(), "var_name", n->name()) +
                             "' has no initializer");
  }
  const GraphRoles& roles = graph.roles();
  FLOWPS_RETURN_IF_ERROR(CheckInputs(roles));
  if (!roles.loss.valid()) return InvalidArgument("the graph names no loss");
  if (roles.loss.dtype() != DType::kFloat32 || roles.loss.shape().rank() != 0)
    return InvalidArgument(Where(*roles.loss.node) + ": the loss must be a float32 scalar, it is " +
                           DTypeName(roles.loss.dtype()) + roles.loss.shape().ToString());
  std::set<std::string> names;
  for (const MetricRole& m : roles.metrics) {
    if (m.name.empty()) return InvalidArgument("a metric has no name");
    if (!names.insert(m.name).second) return InvalidArgument("metric '" + m.name + "' is named twice");
    FLOWPS_RETURN_IF_ERROR(CheckMetric(m));
  }
  return CheckStates(roles);
}

}  // namespace flowps

// _flowps: the C++ half of the Python package flowps (python/flowps/__init__.py
// is the other half, the TensorFlow-1.x-like API). It wraps the graph engine
// thinly: graphs are built node by node from op names and attribute dicts, so
// every op of the registry is reachable with no per-op code here.
//
// Every flowps Status that is not OK becomes flowps.Error (a ValueError)
// carrying the message, which names the node and the op; bad input from
// Python (a wrong dtype, a non-contiguous array, an unknown node) raises too,
// it never aborts the interpreter. Steps run with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/job_spec.h"
#include "core/thread_pool.h"
#include "graph/executor.h"
#include "graph/gradients.h"
#include "graph/graph_def.h"
#include "graph/model_roles.h"
#include "graph/op_registry.h"
#include "graph/variable_store.h"
#include "kernels/initializers.h"
#include "worker/job_client.h"
#include "worker/models.h"

#include <kj/async-io.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace py = pybind11;

namespace flowps {
namespace {

// A non-OK Status on its way to Python.
struct StatusError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void ThrowIfError(const Status& s) {
  if (!s.ok()) throw StatusError(s.message());
}
template <typename T>
T ValueOrThrow(StatusOr<T> v) {
  ThrowIfError(v.status());
  return std::move(v).value();
}

using Ref = std::pair<std::string, int>;  // (node name, output index)

// ---- numpy <-> Tensor --------------------------------------------------------

DType DTypeOfArray(const py::array& a) {
  if (a.dtype().is(py::dtype::of<float>())) return DType::kFloat32;
  if (a.dtype().is(py::dtype::of<int32_t>())) return DType::kInt32;
  if (a.dtype().is(py::dtype::of<int64_t>())) return DType::kInt64;
  throw StatusError("array dtype " + py::str(a.dtype()).cast<std::string>() +
                    " is not supported (use float32, int32 or int64)");
}

Tensor TensorFromArray(const py::array& in) {
  py::array a = py::array::ensure(in, py::array::c_style);
  if (!a) throw StatusError("cannot read the value as a C-contiguous array");
  DType dtype = DTypeOfArray(a);
  std::vector<int64_t> dims(a.shape(), a.shape() + a.ndim());
  Tensor t(dtype, Shape(dims));
  if (t.num_bytes() > 0) std::memcpy(t.raw_data(), a.data(), t.num_bytes());
  return t;
}

py::array ArrayFromTensor(const Tensor& t) {
  std::vector<py::ssize_t> dims(t.shape().dims().begin(), t.shape().dims().end());
  py::dtype dtype;
  switch (t.dtype()) {
    case DType::kFloat32: dtype = py::dtype::of<float>(); break;
    case DType::kInt32: dtype = py::dtype::of<int32_t>(); break;
    case DType::kInt64: dtype = py::dtype::of<int64_t>(); break;
    default: throw StatusError(std::string("cannot return a ") + DTypeName(t.dtype()) + " tensor to numpy");
  }
  py::array out(dtype, dims);
  if (t.num_bytes() > 0) std::memcpy(out.mutable_data(), t.raw_data(), t.num_bytes());
  return out;
}

// ---- attributes ----------------------------------------------------------------

// A list attribute is a Shape when its name is "shape" or ends in "_shape"
// (None for an unknown dim), else a list of ints.
bool IsShapeAttr(const std::string& key) {
  return key == "shape" || (key.size() > 6 && key.compare(key.size() - 6, 6, "_shape") == 0);
}

// A Python (or numpy) integer as int64, or an error naming the attribute.
int64_t Int64FromPython(const std::string& key, const py::handle& v) {
  try {
    return py::int_(py::reinterpret_borrow<py::object>(v)).cast<int64_t>();
  } catch (const py::cast_error&) {
    throw StatusError("attribute '" + key + "': " + py::repr(v).cast<std::string>() + " does not fit in int64");
  }
}

bool IsInteger(const py::handle& v) {
  return !py::isinstance<py::bool_>(v) && !py::isinstance<py::float_>(v) && !py::isinstance<py::str>(v) &&
         !py::isinstance<py::array>(v) && py::hasattr(v, "__index__");
}

AttrValue AttrFromPython(const std::string& key, const py::handle& v) {
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>();
  if (py::isinstance<DType>(v)) return v.cast<DType>();
  if (IsInteger(v)) return Int64FromPython(key, v);
  if (py::isinstance<py::float_>(v) || (!py::isinstance<py::array>(v) && py::hasattr(v, "__float__") &&
                                        !py::isinstance<py::str>(v)))
    return py::float_(py::reinterpret_borrow<py::object>(v)).cast<double>();
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  if (py::isinstance<py::array>(v)) return TensorFromArray(v.cast<py::array>());
  if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
    std::vector<int64_t> ints;
    for (py::handle e : v) {
      if (e.is_none() && IsShapeAttr(key)) ints.push_back(-1);
      else if (IsInteger(e)) ints.push_back(Int64FromPython(key, e));
      else throw StatusError("attribute '" + key + "': a list attribute holds ints only");
    }
    if (IsShapeAttr(key)) return Shape(ints);
    return ints;
  }
  throw StatusError("attribute '" + key + "': unsupported value " + py::repr(v).cast<std::string>());
}

// ---- Graph ---------------------------------------------------------------------

class PyGraph {
 public:
  explicit PyGraph(std::shared_ptr<const OpRegistry> registry)
      : registry_(std::move(registry)), graph_(std::make_unique<Graph>(registry_.get())) {}
  PyGraph(std::shared_ptr<const OpRegistry> registry, std::unique_ptr<Graph> graph)
      : registry_(std::move(registry)), graph_(std::move(graph)) {}

  Graph& graph() { return *graph_; }

  Node* FindNode(const std::string& name) const {
    Node* n = graph_->FindNode(name);
    if (n == nullptr) throw StatusError("the graph has no node '" + name + "'");
    return n;
  }
  Output FindOutput(const Ref& r) const {
    Node* n = FindNode(r.first);
    if (r.second < 0 || r.second >= n->num_outputs())
      throw StatusError("node '" + r.first + "' (op " + n->op() + ") has no output " + std::to_string(r.second));
    return n->output(r.second);
  }

  std::string AddNode(const std::string& op, const std::string& name, const std::vector<Ref>& inputs,
                      const py::dict& attrs, const std::string& device, const std::vector<std::string>& control) {
    NodeSpec spec{op, name, {}, {}, {}, device};
    for (const Ref& r : inputs) spec.inputs.push_back(FindOutput(r));
    for (const std::string& c : control) spec.control_inputs.push_back(FindNode(c));
    for (auto [k, v] : attrs) {
      std::string key = k.cast<std::string>();
      try {
        spec.attrs[key] = AttrFromPython(key, v);
      } catch (const StatusError& e) {
        throw StatusError("node '" + (name.empty() ? op : name) + "' (op " + op + "): " + e.what());
      }
    }
    return ValueOrThrow(graph_->AddNode(std::move(spec)))->name();
  }

  std::string Op(const std::string& node) const { return FindNode(node)->op(); }
  int NumOutputs(const std::string& node) const { return FindNode(node)->num_outputs(); }
  std::string Device(const std::string& node) const { return FindNode(node)->requested_device(); }

  // (dtype name, dims with None for unknown).
  std::pair<std::string, py::list> OutputInfo(const Ref& r) const {
    Output o = FindOutput(r);
    py::list dims;
    for (int64_t d : o.shape().dims()) dims.append(d < 0 ? py::object(py::none()) : py::object(py::int_(d)));
    return {DTypeName(o.dtype()), dims};
  }

  std::vector<std::optional<Ref>> Gradients(const Ref& loss, const std::vector<Ref>& xs) {
    std::vector<Output> outs;
    for (const Ref& x : xs) outs.push_back(FindOutput(x));
    std::vector<GradValue> grads = ValueOrThrow(flowps::Gradients(FindOutput(loss), outs));
    std::vector<std::optional<Ref>> result;
    for (size_t i = 0; i < grads.size(); ++i) {
      if (!grads[i].valid()) {
        result.push_back(std::nullopt);
        continue;
      }
      Output dense = DenseGradient(grads[i], outs[i]);
      ThrowIfError(graph_->status());
      result.push_back(Ref{dense.node->name(), dense.index});
    }
    return result;
  }

  // Variable nodes: (node name, var_name).
  std::vector<std::pair<std::string, std::string>> Variables() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& n : graph_->nodes())
      if (n->op() == "Variable") out.push_back({n->name(), GetAttrOr<std::string>(n->attrs(), "var_name", n->name())});
    return out;
  }

  // states: (initial Placeholder's node name, final value) pairs (GraphRoles::states).
  void SetRoles(const std::vector<std::pair<std::string, std::string>>& inputs, const std::optional<Ref>& loss,
                const std::vector<std::tuple<std::string, std::string, std::vector<Ref>>>& metrics,
                const std::vector<std::pair<std::string, Ref>>& states) {
    GraphRoles roles;
    for (const auto& [node, column] : inputs) roles.inputs.push_back({FindNode(node), column});
    if (loss) roles.loss = FindOutput(*loss);
    for (const auto& [name, kind, refs] : metrics) {
      MetricRole m{name, kind, {}};
      for (const Ref& r : refs) m.tensors.push_back(FindOutput(r));
      roles.metrics.push_back(std::move(m));
    }
    for (const auto& [initial, final] : states) roles.states.push_back({FindNode(initial), FindOutput(final)});
    graph_->roles() = std::move(roles);
  }

  py::dict Roles() const {
    const GraphRoles& r = graph_->roles();
    py::list inputs, metrics, states;
    for (const InputRole& in : r.inputs) inputs.append(py::make_tuple(in.placeholder->name(), in.column));
    for (const StateRole& s : r.states)
      states.append(py::make_tuple(s.initial->name(), py::make_tuple(s.final.node->name(), s.final.index)));
    for (const MetricRole& m : r.metrics) {
      py::list refs;
      for (const Output& o : m.tensors) refs.append(py::make_tuple(o.node->name(), o.index));
      metrics.append(py::make_tuple(m.name, m.kind, refs));
    }
    py::dict d;
    d["inputs"] = inputs;
    d["loss"] = r.loss.valid() ? py::object(py::make_tuple(r.loss.node->name(), r.loss.index)) : py::none();
    d["metrics"] = metrics;
    d["states"] = states;
    return d;
  }

  void Validate() const { ThrowIfError(ValidateModel(*graph_)); }
  py::bytes Serialize() const { return py::bytes(ValueOrThrow(SerializeGraph(*graph_))); }
  void Save(const std::string& path) const { ThrowIfError(WriteGraphFile(*graph_, path)); }
  std::vector<std::string> NodeNames() const {
    std::vector<std::string> out;
    for (const auto& n : graph_->nodes()) out.push_back(n->name());
    return out;
  }

 private:
  std::shared_ptr<const OpRegistry> registry_;  // outlives graph_
  std::unique_ptr<Graph> graph_;
};

// ---- Session -------------------------------------------------------------------

// One process, all nodes on the CPU (requested devices are kept for the
// cluster, not honoured here). Not thread-safe: call from one Python thread.
class PySession {
 public:
  PySession(py::object graph, int threads)
      : graph_obj_(std::move(graph)), graph_(graph_obj_.cast<PyGraph*>()), pool_(NewAsioThreadPool(threads)),
        executor_(std::make_unique<Executor>(graph_->graph(), pool_.get())) {}

  py::list Run(const std::vector<Ref>& fetches, const std::vector<std::string>& targets,
               const std::vector<std::pair<Ref, py::array>>& feeds) {
    std::vector<Output> outs;
    for (const Ref& r : fetches) outs.push_back(graph_->FindOutput(r));
    std::vector<Node*> target_nodes;
    for (const std::string& t : targets) target_nodes.push_back(graph_->FindNode(t));
    FeedList feed_list;
    for (const auto& [ref, value] : feeds) {
      Output o = graph_->FindOutput(ref);
      try {
        feed_list.push_back({o, TensorFromArray(value)});
      } catch (const StatusError& e) {
        throw StatusError("feed for node '" + o.node->name() + "' (op " + o.node->op() + "): " + e.what());
      }
    }
    ThrowIfError(graph_->graph().status());
    StatusOr<std::vector<Tensor>> result = Status::OK();
    {
      py::gil_scoped_release release;
      StepOptions options;
      options.variables = &variables_;
      result = executor_->Run(feed_list, outs, target_nodes, options);
    }
    py::list out;
    for (const Tensor& t : ValueOrThrow(std::move(result))) out.append(ArrayFromTensor(t));
    return out;
  }

  // Gives every variable its initializer's value; a variable without one is
  // an error naming its node, and then no variable changes.
  void InitializeVariables() {
    std::vector<std::pair<std::string, Tensor>> values;
    for (const auto& n : graph_->graph().nodes()) {
      if (n->op() != "Variable") continue;
      const std::string var = GetAttrOr<std::string>(n->attrs(), "var_name", n->name());
      auto init = InitializerFromAttrs(n->attrs());
      ThrowIfError(init.status());
      if (!init->has_value())
        throw StatusError("node '" + n->name() + "' (op Variable): variable '" + var +
                          "' has no initializer; give one, or set its value with Session.load_variable");
      const Shape& shape = n->output_shape(0);
      values.push_back({var, kernels::Initialize(**init, shape, 0, shape.rank() == 0 ? 1 : shape.dim(0))});
    }
    for (auto& [var, value] : values) variables_.Set(var, std::move(value));
  }

  void LoadVariable(const std::string& var, const py::array& value) {
    for (const auto& n : graph_->graph().nodes()) {
      if (n->op() != "Variable" || GetAttrOr<std::string>(n->attrs(), "var_name", "") != var) continue;
      Tensor t = TensorFromArray(value);
      ThrowIfError(t.Check(n->output_dtype(0), n->output_shape(0), "value of variable '" + var + "'"));
      variables_.Set(var, std::move(t));
      return;
    }
    throw StatusError("the graph has no variable '" + var + "'");
  }

  py::array ReadVariable(const std::string& var) const { return ArrayFromTensor(ValueOrThrow(variables_.Read(var))); }

 private:
  py::object graph_obj_;  // keeps the graph alive
  PyGraph* graph_;
  std::unique_ptr<ThreadPool> pool_;
  VariableStore variables_;
  std::unique_ptr<Executor> executor_;
};

// A built-in model of the job spec (softmax, mlp, cnn), built by the same
// code as the cluster's (worker/models.h): its Variable nodes carry their
// initializers, its roles are x <- "features", y <- "label", the loss and the
// accuracy. The initial values (drawn as the ps draws them) come back beside it.
py::tuple BuiltinModel(std::shared_ptr<OpRegistry> registry, const std::string& kind, std::vector<int64_t> hidden,
                       int64_t seed) {
  ModelSpec spec;
  spec.hidden = std::move(hidden);
  spec.seed = seed;
  bool known = false;
  for (ModelKind k : {ModelKind::kSoftmax, ModelKind::kMlp, ModelKind::kCnn})
    if (kind == ModelKindName(k)) spec.kind = k, known = true;
  if (!known) throw StatusError("unknown built-in model '" + kind + "' (expected softmax, mlp or cnn)");
  Model model = ValueOrThrow(BuildModel(spec, registry.get()));
  py::dict initial;
  for (const ModelVariable& v : model.variables) initial[py::str(v.name)] = ArrayFromTensor(v.initial_value);
  return py::make_tuple(py::cast(std::make_unique<PyGraph>(registry, std::move(model.graph))), initial);
}

// Hands the job file at `job_path` (with its graph's bytes for a graph job)
// to the chief of the cluster at `cluster_path`, as `flowps submit` does.
// Raises naming the file and key, the graph's node, or the chief's refusal;
// a cluster that does not answer raises too.
void SubmitJobFile(const std::string& cluster_path, const std::string& job_path, int timeout_ms) {
  ClusterSpec cluster = ValueOrThrow(LoadClusterSpec(cluster_path));
  JobSpec job = ValueOrThrow(LoadJobSpec(job_path));
  std::string graph_def;
  if (job.model.kind == ModelKind::kGraphFile) graph_def = ValueOrThrow(ReadModelGraphFile(job.model.graph_file));
  std::ifstream in(job_path);
  std::stringstream text;
  text << in.rdbuf();
  Status submitted;
  {
    py::gil_scoped_release unlocked;
    auto io = kj::setupAsyncIo();
    submitted = SubmitJob(io, cluster, text.str(), job_path, std::chrono::milliseconds(timeout_ms), graph_def);
  }
  if (!submitted.ok())
    throw StatusError("the chief " + cluster.chief_task().name() + " refused the job: " + submitted.message());
}

// The job as the chief of the cluster at `cluster_path` sees it: a dict of
// its status ("reachable" False, with "error", when it does not answer).
py::dict ChiefStatus(const std::string& cluster_path, int timeout_ms) {
  ClusterSpec cluster = ValueOrThrow(LoadClusterSpec(cluster_path));
  std::vector<WorkerReport> reports;
  {
    py::gil_scoped_release unlocked;
    auto io = kj::setupAsyncIo();
    reports = QueryWorkers(io, cluster, std::chrono::milliseconds(timeout_ms));
  }
  const WorkerReport& chief = reports[static_cast<size_t>(cluster.chief)];
  py::dict out;
  out["reachable"] = chief.status.ok();
  if (!chief.status.ok()) {
    out["error"] = chief.status.ToString();
    return out;
  }
  const WorkerJobStatus& j = chief.job;
  out["state"] = std::string(JobStateName(j.state));
  out["job"] = j.job;
  out["global_step"] = j.global_step;
  out["total_steps"] = j.total_steps;
  out["loss"] = j.loss;
  out["test_accuracy"] = j.test_accuracy;
  out["test_metrics"] = j.test_metrics;
  out["examples_per_sec"] = j.job_examples_per_sec;
  out["elapsed_seconds"] = j.elapsed_seconds;
  out["error"] = j.error;
  out["metrics_path"] = j.metrics_path;
  out["sample"] = j.sample;
  return out;
}

std::shared_ptr<const OpRegistry> NewRegistry() {
  auto r = std::make_shared<OpRegistry>();
  ThrowIfError(RegisterStandardOps(r.get()));
  return r;
}

}  // namespace
}  // namespace flowps

PYBIND11_MODULE(_flowps, m) {
  using namespace flowps;
  m.doc() = "The C++ half of flowps: graphs, sessions, the op registry (see flowps/__init__.py).";
  py::register_exception<StatusError>(m, "Error", PyExc_ValueError);

  py::enum_<DType>(m, "DType")
      .value("float32", DType::kFloat32)
      .value("int32", DType::kInt32)
      .value("int64", DType::kInt64)
      .value("bfloat16", DType::kBFloat16);

  py::class_<OpRegistry, std::shared_ptr<OpRegistry>>(m, "OpRegistry")
      .def(py::init([]() { return std::const_pointer_cast<OpRegistry>(NewRegistry()); }))
      .def("op_names", &OpRegistry::OpNames)
      .def("op_info", [](const OpRegistry& r, const std::string& name) {
        const OpDef* d = r.Find(name);
        if (d == nullptr) throw StatusError("unknown op '" + name + "'");
        return py::dict(py::arg("num_inputs") = d->num_inputs, py::arg("stateful") = d->stateful,
                        py::arg("differentiable") = static_cast<bool>(d->grad));
      });

  m.def("initializer_kinds", []() {
    std::vector<std::string> out;
    for (int k = 0;; ++k) {
      std::string name = kernels::InitializerKindName(static_cast<kernels::InitializerKind>(k));
      if (name == "unknown") return out;
      out.push_back(name);
    }
  });

  py::class_<PyGraph>(m, "Graph")
      .def(py::init([](std::shared_ptr<OpRegistry> r) { return std::make_unique<PyGraph>(r); }))
      .def_static("load", [](std::shared_ptr<OpRegistry> r, const py::bytes& bytes) {
        return std::make_unique<PyGraph>(r, ValueOrThrow(DeserializeGraph(std::string(bytes), r.get())));
      })
      .def("add_node", &PyGraph::AddNode)
      .def("op", &PyGraph::Op)
      .def("num_outputs", &PyGraph::NumOutputs)
      .def("device", &PyGraph::Device)
      .def("output_info", &PyGraph::OutputInfo)
      .def("gradients", &PyGraph::Gradients)
      .def("variables", &PyGraph::Variables)
      .def("set_roles", &PyGraph::SetRoles, py::arg("inputs"), py::arg("loss"), py::arg("metrics"),
           py::arg("states") = std::vector<std::pair<std::string, Ref>>{})
      .def("roles", &PyGraph::Roles)
      .def("validate", &PyGraph::Validate)
      .def("serialize", &PyGraph::Serialize)
      .def("save", &PyGraph::Save)
      .def("node_names", &PyGraph::NodeNames);

  m.def("builtin_model", &BuiltinModel);
  m.def("submit_job_file", &SubmitJobFile, py::arg("cluster_path"), py::arg("job_path"), py::arg("timeout_ms"));
  m.def("chief_status", &ChiefStatus, py::arg("cluster_path"), py::arg("timeout_ms"));
  m.def("check_job_spec", [](const std::string& path) { ThrowIfError(LoadJobSpec(path).status()); },
        "Reads a job file with flowps's own loader; raises flowps.Error naming the file, line and key.");

  py::class_<PySession>(m, "Session")
      .def(py::init<py::object, int>())
      .def("run", &PySession::Run)
      .def("initialize_variables", &PySession::InitializeVariables)
      .def("load_variable", &PySession::LoadVariable)
      .def("read_variable", &PySession::ReadVariable);
}

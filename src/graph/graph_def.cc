#include "graph/graph_def.h"

#include "core/shape_check.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "graph/graph_def.capnp.h"
#include "graph/op_registry.h"
#include "graph/partition.h"

namespace flowps {
namespace {

constexpr uint32_t kVersion = 1;
constexpr size_t kChunkBytes = size_t{1} << 28;  // below capnp's 2^29-1 per Data blob
constexpr int64_t kMaxElements = int64_t{1} << 36;

void WriteShape(const std::vector<int64_t>& dims, capnp::List<int64_t>::Builder out) {
  for (size_t i = 0; i < dims.size(); ++i) out.set(static_cast<unsigned>(i), dims[i]);
}

void WriteTensor(const Tensor& t, schema::TensorValue::Builder out) {
  out.setDtype(static_cast<uint8_t>(t.dtype()));
  WriteShape(t.shape().dims(), out.initShape(t.shape().rank()));
  size_t bytes = t.num_bytes();
  size_t n = (bytes + kChunkBytes - 1) / kChunkBytes;
  auto chunks = out.initChunks(static_cast<unsigned>(n));
  const auto* src = static_cast<const kj::byte*>(t.raw_data());
  for (size_t i = 0; i < n; ++i) {
    size_t len = std::min(kChunkBytes, bytes - i * kChunkBytes);
    chunks.set(static_cast<unsigned>(i), kj::arrayPtr(src + i * kChunkBytes, len));
  }
}

void WriteAttr(const AttrValue& value, schema::Attr::Value::Builder out) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) out.setInt(v);
        else if constexpr (std::is_same_v<T, double>) out.setFloat(v);
        else if constexpr (std::is_same_v<T, bool>) out.setBool(v);
        else if constexpr (std::is_same_v<T, std::string>) out.setText(v);
        else if constexpr (std::is_same_v<T, DType>) out.setDtype(static_cast<uint8_t>(v));
        else if constexpr (std::is_same_v<T, Shape>) WriteShape(v.dims(), out.initShape(v.rank()));
        else if constexpr (std::is_same_v<T, std::vector<int64_t>>) WriteShape(v, out.initInts(v.size()));
        else if constexpr (std::is_same_v<T, Tensor>) WriteTensor(v, out.initTensor());
      },
      value);
}

StatusOr<DType> ReadDType(uint8_t raw) {
  switch (static_cast<DType>(raw)) {
    case DType::kFloat32:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kBFloat16:
      return static_cast<DType>(raw);
  }
  return InvalidArgument("unknown dtype code " + std::to_string(raw));
}

std::vector<int64_t> ReadInts(capnp::List<int64_t>::Reader in) {
  std::vector<int64_t> out;
  out.reserve(in.size());
  for (int64_t v : in) out.push_back(v);
  return out;
}

StatusOr<Tensor> ReadTensor(schema::TensorValue::Reader in) {
  FLOWPS_ASSIGN_OR_RETURN(DType dtype, ReadDType(in.getDtype()));
  std::vector<int64_t> dims = ReadInts(in.getShape());
  int64_t elements = 1;
  for (int64_t d : dims) {
    if (d < 0 || (d > 0 && elements > kMaxElements / d))
      return InvalidArgument("tensor shape " + Shape(dims).ToString() + " is invalid or too large");
    elements *= d;
  }
  size_t want = static_cast<size_t>(elements) * DTypeSize(dtype);
  size_t have = 0;
  for (auto c : in.getChunks()) have += c.size();
  if (have != want)
    return InvalidArgument("tensor " + std::string(DTypeName(dtype)) + Shape(dims).ToString() + " needs " +
                           std::to_string(want) + " bytes, has " + std::to_string(have));
  Tensor t(dtype, Shape(dims));
  auto* dst = static_cast<kj::byte*>(t.raw_data());
  for (auto c : in.getChunks()) {
    if (c.size() > 0) std::memcpy(dst, c.begin(), c.size());
    dst += c.size();
  }
  return t;
}

StatusOr<AttrValue> ReadAttr(schema::Attr::Value::Reader in) {
  switch (in.which()) {
    case schema::Attr::Value::INT: return AttrValue(in.getInt());
    case schema::Attr::Value::FLOAT: return AttrValue(in.getFloat());
    case schema::Attr::Value::BOOL: return AttrValue(in.getBool());
    case schema::Attr::Value::TEXT: return AttrValue(std::string(in.getText().cStr()));
    case schema::Attr::Value::DTYPE: {
      FLOWPS_ASSIGN_OR_RETURN(DType d, ReadDType(in.getDtype()));
      return AttrValue(d);
    }
    case schema::Attr::Value::SHAPE: {
      Shape shape(ReadInts(in.getShape()));
      FLOWPS_RETURN_IF_ERROR(CheckShape(shape, /*allow_unknown=*/true));
      return AttrValue(std::move(shape));
    }
    case schema::Attr::Value::INTS: return AttrValue(ReadInts(in.getInts()));
    case schema::Attr::Value::TENSOR: {
      FLOWPS_ASSIGN_OR_RETURN(Tensor t, ReadTensor(in.getTensor()));
      return AttrValue(std::move(t));
    }
  }
  return InvalidArgument("unknown attribute kind");
}

void WriteRef(const Output& o, schema::TensorRef::Builder out) {
  out.setNode(o.node->name());
  out.setIndex(static_cast<uint32_t>(o.index));
}

void WriteRoles(const GraphRoles& roles, schema::Roles::Builder out) {
  auto inputs = out.initInputs(static_cast<unsigned>(roles.inputs.size()));
  for (size_t i = 0; i < roles.inputs.size(); ++i) {
    inputs[static_cast<unsigned>(i)].setNode(roles.inputs[i].placeholder->name());
    inputs[static_cast<unsigned>(i)].setColumn(roles.inputs[i].column);
  }
  if (roles.loss.valid()) WriteRef(roles.loss, out.initLoss());
  auto metrics = out.initMetrics(static_cast<unsigned>(roles.metrics.size()));
  for (size_t i = 0; i < roles.metrics.size(); ++i) {
    const MetricRole& m = roles.metrics[i];
    auto mo = metrics[static_cast<unsigned>(i)];
    mo.setName(m.name);
    mo.setKind(m.kind);
    auto tensors = mo.initTensors(static_cast<unsigned>(m.tensors.size()));
    for (size_t k = 0; k < m.tensors.size(); ++k) WriteRef(m.tensors[k], tensors[static_cast<unsigned>(k)]);
  }
  auto states = out.initStates(static_cast<unsigned>(roles.states.size()));
  for (size_t i = 0; i < roles.states.size(); ++i) {
    states[static_cast<unsigned>(i)].setInitial(roles.states[i].initial->name());
    WriteRef(roles.states[i].final, states[static_cast<unsigned>(i)].initFinal());
  }
}

StatusOr<Output> ReadRef(const Graph& graph, schema::TensorRef::Reader ref, const std::string& what) {
  Node* n = graph.FindNode(ref.getNode().cStr());
  if (n == nullptr || static_cast<int64_t>(ref.getIndex()) >= n->num_outputs())
    return InvalidArgument(what + " refers to '" + ref.getNode().cStr() + ":" + std::to_string(ref.getIndex()) +
                           "', which is not an output of the graph");
  return n->output(static_cast<int>(ref.getIndex()));
}

// Resolves the roles' references; ValidateModel checks the rest.
StatusOr<GraphRoles> ReadRoles(const Graph& graph, schema::Roles::Reader in) {
  GraphRoles roles;
  for (auto input : in.getInputs()) {
    Node* n = graph.FindNode(input.getNode().cStr());
    if (n == nullptr) return InvalidArgument(std::string("input role names no node '") + input.getNode().cStr() + "'");
    roles.inputs.push_back({n, input.getColumn().cStr()});
  }
  if (in.hasLoss()) {
    FLOWPS_ASSIGN_OR_RETURN(roles.loss, ReadRef(graph, in.getLoss(), "the loss"));
  }
  for (auto m : in.getMetrics()) {
    MetricRole role{m.getName().cStr(), m.getKind().cStr(), {}};
    for (auto ref : m.getTensors()) {
      FLOWPS_ASSIGN_OR_RETURN(Output o, ReadRef(graph, ref, "metric '" + role.name + "'"));
      role.tensors.push_back(o);
    }
    roles.metrics.push_back(std::move(role));
  }
  for (auto state : in.getStates()) {
    Node* n = graph.FindNode(state.getInitial().cStr());
    if (n == nullptr) return InvalidArgument(std::string("state role names no node '") + state.getInitial().cStr() + "'");
    FLOWPS_ASSIGN_OR_RETURN(Output final, ReadRef(graph, state.getFinal(), "state '" + n->name() + "'"));
    roles.states.push_back({n, final});
  }
  return roles;
}

StatusOr<std::unique_ptr<Graph>> BuildGraph(schema::GraphDef::Reader def, const OpRegistry* registry) {
  if (def.getVersion() != kVersion)
    return InvalidArgument("graph def version " + std::to_string(def.getVersion()) + " is not supported (want " +
                           std::to_string(kVersion) + ")");
  auto graph = std::make_unique<Graph>(registry);
  int index = 0;
  for (auto nd : def.getNodes()) {
    std::string name = nd.getName().cStr();
    std::string where = "node " + std::to_string(index++) + " '" + name + "'";
    if (name.empty()) return InvalidArgument(where + ": empty name");
    if (graph->FindNode(name) != nullptr) return InvalidArgument(where + ": duplicate node name");
    NodeSpec spec{nd.getOp().cStr(), name, {}, {}, {}, nd.getRequestedDevice().cStr()};
    if (registry->Find(spec.op) == nullptr) return InvalidArgument(where + ": unknown op '" + spec.op + "'");
    int i = 0;
    for (auto ref : nd.getInputs()) {
      Node* src = graph->FindNode(ref.getNode().cStr());
      if (src == nullptr || static_cast<int64_t>(ref.getIndex()) >= src->num_outputs())
        return InvalidArgument(where + ": input " + std::to_string(i) + " refers to '" + ref.getNode().cStr() + ":" +
                               std::to_string(ref.getIndex()) + "', which is not an output of an earlier node");
      spec.inputs.push_back(src->output(static_cast<int>(ref.getIndex())));
      ++i;
    }
    for (auto c : nd.getControlInputs()) {
      Node* src = graph->FindNode(c.cStr());
      if (src == nullptr)
        return InvalidArgument(where + ": control input '" + c.cStr() + "' is not an earlier node");
      spec.control_inputs.push_back(src);
    }
    for (auto a : nd.getAttrs()) {
      auto v = ReadAttr(a.getValue());
      if (!v.ok()) return v.status().WithContext(where + ": attribute '" + a.getName().cStr() + "'");
      spec.attrs[a.getName().cStr()] = std::move(v).value();
    }
    auto node = graph->AddNode(std::move(spec));
    if (!node.ok()) return node.status().WithContext("graph def");
  }
  if (def.hasRoles()) {
    auto roles = ReadRoles(*graph, def.getRoles());
    if (!roles.ok()) return roles.status().WithContext("graph def roles");
    graph->roles() = std::move(roles).value();
  }
  return graph;
}

}  // namespace

StatusOr<std::string> SerializeGraph(const Graph& graph) {
  FLOWPS_ASSIGN_OR_RETURN(std::vector<Node*> order, TopologicalOrder(graph));
  capnp::MallocMessageBuilder message;
  auto def = message.initRoot<schema::GraphDef>();
  def.setVersion(kVersion);
  auto nodes = def.initNodes(static_cast<unsigned>(order.size()));
  for (size_t k = 0; k < order.size(); ++k) {
    const Node& n = *order[k];
    auto nd = nodes[static_cast<unsigned>(k)];
    nd.setName(n.name());
    nd.setOp(n.op());
    nd.setRequestedDevice(n.requested_device());
    auto inputs = nd.initInputs(n.num_inputs());
    for (int i = 0; i < n.num_inputs(); ++i) {
      inputs[i].setNode(n.input(i).node->name());
      inputs[i].setIndex(static_cast<uint32_t>(n.input(i).index));
    }
    auto controls = nd.initControlInputs(static_cast<unsigned>(n.control_inputs().size()));
    for (size_t i = 0; i < n.control_inputs().size(); ++i) controls.set(static_cast<unsigned>(i), n.control_inputs()[i]->name());
    auto attrs = nd.initAttrs(static_cast<unsigned>(n.attrs().size()));
    unsigned a = 0;
    for (const auto& [key, value] : n.attrs()) {
      attrs[a].setName(key);
      WriteAttr(value, attrs[a].initValue());
      ++a;
    }
  }
  if (!graph.roles().empty()) WriteRoles(graph.roles(), def.initRoles());
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

StatusOr<std::unique_ptr<Graph>> DeserializeGraph(std::string_view bytes, const OpRegistry* registry) {
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0)
    return InvalidArgument("graph def of " + std::to_string(bytes.size()) + " bytes is not a whole number of 8-byte words");
  auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), bytes.data(), bytes.size());
  capnp::ReaderOptions options;
  options.traversalLimitInWords = words.size() * 4 + (uint64_t{1} << 20);
  try {
    capnp::FlatArrayMessageReader reader(words, options);
    return BuildGraph(reader.getRoot<schema::GraphDef>(), registry);
  } catch (const kj::Exception& e) {
    return InvalidArgument(std::string("graph def is malformed: ") + e.getDescription().cStr());
  }
}

Status WriteGraphFile(const Graph& graph, const std::string& path) {
  FLOWPS_ASSIGN_OR_RETURN(std::string bytes, SerializeGraph(graph));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return NotFound(path + ": cannot open for writing");
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return Internal(path + ": write failed");
  return Status::OK();
}

StatusOr<std::unique_ptr<Graph>> ReadGraphFile(const std::string& path, const OpRegistry* registry) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open graph file");
  std::stringstream ss;
  ss << in.rdbuf();
  auto graph = DeserializeGraph(ss.str(), registry);
  if (!graph.ok()) return graph.status().WithContext(path);
  return graph;
}

}  // namespace flowps

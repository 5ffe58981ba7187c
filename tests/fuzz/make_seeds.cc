// Writes the seed corpora that are Cap'n Proto streams, messages or files:
//   fuzz_make_seeds <tests/fuzz/corpus>
// (the YAML seeds are copies of configs/). Run by hand when a schema changes;
// the seeds are committed.
#include <capnp/capability.h>
#include <capnp/message.h>
#include <capnp/rpc.capnp.h>
#include <capnp/serialize.h>
#include <kj/async.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "core/tensor.h"
#include "graph/graph_def.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "net/gate.capnp.h"
#include "net/ps.capnp.h"
#include "net/tensor_codec.h"
#include "ps/checkpoint.h"

using namespace flowps;
namespace fs = std::filesystem;

namespace {

std::string Bytes(capnp::MessageBuilder& m) {
  auto words = capnp::messageToFlatArray(m);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

void Write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

Tensor Floats(Shape shape) {
  Tensor t(DType::kFloat32, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = 0.25f * static_cast<float>(i);
  return t;
}

// --- the RPC stream a client sends: bootstrap, login, calls on the session ---

std::string BootstrapMessage(uint32_t question) {
  capnp::MallocMessageBuilder m;
  m.initRoot<capnp::rpc::Message>().initBootstrap().setQuestionId(question);
  return Bytes(m);
}

// A call on the answer of `target` (its pointer field 0 when `field0`).
capnp::rpc::Call::Builder InitCall(capnp::MallocMessageBuilder& m, uint32_t question, uint32_t target, bool field0,
                                   uint64_t interface_id, uint16_t method) {
  auto call = m.initRoot<capnp::rpc::Message>().initCall();
  call.setQuestionId(question);
  auto answer = call.initTarget().initPromisedAnswer();
  answer.setQuestionId(target);
  if (field0) answer.initTransform(1)[0].setGetPointerField(0);
  call.setInterfaceId(interface_id);
  call.setMethodId(method);
  return call;
}

std::string Login(uint32_t question, const std::string& token) {
  capnp::MallocMessageBuilder m;
  auto call = InitCall(m, question, 0, false, capnp::typeId<wire::Gate>(), 0);
  call.initParams().getContent().initAs<wire::Gate::LoginParams>().setToken(token);
  return Bytes(m);
}

// A Session call with empty params (health) or a name (service).
std::string SessionCall(uint32_t question, uint16_t method, const std::string& name = "") {
  capnp::MallocMessageBuilder m;
  auto call = InitCall(m, question, 1, true, capnp::typeId<wire::Session>(), method);
  auto content = call.initParams().getContent();
  if (method == 1) content.initAs<wire::Session::ServiceParams>().setName(name);
  if (method == 0) content.initAs<wire::Session::HealthParams>();
  return Bytes(m);
}

class NullReceiver final : public wire::LogReceiver::Server {};

// subscribeLogs with a receiver the client hosts (export 0).
std::string Subscribe(uint32_t question) {
  capnp::MallocMessageBuilder m;
  auto call = InitCall(m, question, 1, true, capnp::typeId<wire::Session>(), 2);
  auto payload = call.initParams();
  payload.initCapTable(1)[0].setSenderHosted(0);
  capnp::BuilderCapabilityTable table;
  auto params = table.imbue(payload.getContent()).initAs<wire::Session::SubscribeLogsParams>();
  params.setReceiver(kj::heap<NullReceiver>());
  params.setCapacity(4);
  return Bytes(m);
}

void WriteRpcSeeds(const fs::path& dir) {
  const std::string token = "fuzz-token";
  Write(dir / "bootstrap", BootstrapMessage(0));
  Write(dir / "wrong_login", BootstrapMessage(0) + Login(1, "guess"));
  Write(dir / "login_health", BootstrapMessage(0) + Login(1, token) + SessionCall(2, 0));
  Write(dir / "login_service", BootstrapMessage(0) + Login(1, token) + SessionCall(2, 1, "ps"));
  Write(dir / "login_subscribe", BootstrapMessage(0) + Login(1, token) + Subscribe(2) + SessionCall(3, 0));
}

// --- ps service calls: [method][length, 2 bytes LE][params message] ---

std::string Record(uint16_t method, capnp::MallocMessageBuilder& m) {
  std::string bytes = Bytes(m);
  std::string out;
  out += static_cast<char>(method);
  out += static_cast<char>(bytes.size() & 0xff);
  out += static_cast<char>(bytes.size() >> 8);
  return out + bytes;
}

void WritePsSeeds(const fs::path& dir) {
  using PS = wire::ParameterServer;
  std::string session;
  {
    capnp::MallocMessageBuilder m;
    auto c = m.initRoot<PS::ConfigureParams>().initConfig();
    c.setMode(wire::TrainingMode::SYNC);
    c.setReplicasToAggregate(1);
    c.setTotalWorkers(1);
    c.setMaxStaleness(-1);
    c.setStalenessPolicy(wire::StalenessPolicy::REFUSE);
    c.setOptimizer(wire::OptimizerKind::ADAM);
    c.setLearningRate(0.1);
    c.setBeta1(0.9);
    c.setBeta2(0.999);
    c.setEpsilon(1e-8);
    c.setCheckpointDir("x");  // odd length: the fuzzer's scratch folder
    c.setKeepCheckpoints(2);
    session += Record(10, m);
  }
  {
    capnp::MallocMessageBuilder m;
    auto v = m.initRoot<PS::CreateVariablesParams>().initVariables(1)[0];
    v.setName("w");
    auto shape = v.initFullShape(2);
    shape.set(0, 4);
    shape.set(1, 3);
    v.setRowBegin(0);
    v.setRowEnd(4);
    v.initInitializer().setKind(wire::InitializerKind::ZEROS);
    session += Record(0, m);
  }
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<PS::PullParams>().initNames(1).set(0, "w");
    session += Record(1, m);
  }
  {
    capnp::MallocMessageBuilder m;
    auto p = m.initRoot<PS::PushParams>();
    p.setParts(1);
    auto g = p.initGradients(1)[0];
    g.setVariable("w");
    Tensor grad = Floats(Shape{4, 3});
    (void)WriteTensor(grad, g.initValues(), TensorWireOptions::Copying());
    session += Record(3, m);
  }
  {
    capnp::MallocMessageBuilder m;
    auto r = m.initRoot<PS::PullRowsParams>().initRequests(1)[0];
    r.setVariable("w");
    Tensor rows(DType::kInt64, Shape{2});
    rows.data<int64_t>()[0] = 0;
    rows.data<int64_t>()[1] = 3;
    (void)WriteTensor(rows, r.initIndices(), TensorWireOptions::Copying());
    session += Record(2, m);
  }
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<PS::WaitForStepParams>().setStep(1);
    session += Record(4, m);
  }
  for (uint16_t method : {5, 6}) {
    capnp::MallocMessageBuilder m;
    if (method == 5) m.initRoot<PS::SaveCheckpointParams>().setCheckpointStep(1);
    if (method == 6) m.initRoot<PS::CommitCheckpointParams>().setCheckpointStep(1);
    session += Record(method, m);
  }
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<PS::RestoreCheckpointParams>();
    session += Record(7, m);
  }
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<PS::CheckpointStatusParams>();
    session += Record(8, m);
  }
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<PS::StatsParams>();
    session += Record(9, m);
  }
  Write(dir / "train_and_checkpoint", session);
}

// --- tensors on the wire ---

void WriteTensorSeeds(const fs::path& dir) {
  auto write = [&](const std::string& name, const Tensor& t, TensorWireOptions options) {
    capnp::MallocMessageBuilder m;
    Tensor kept = *WriteTensor(t, m.initRoot<wire::Tensor>(), options);
    Write(dir / name, Bytes(m));
  };
  write("f32_copied", Floats(Shape{3, 4}), TensorWireOptions::Copying());
  TensorWireOptions chunked;
  chunked.chunk_bytes = 16;
  chunked.copy_below_bytes = 0;
  write("f32_chunked", Floats(Shape{8, 8}), chunked);
  TensorWireOptions bf16 = TensorWireOptions::Copying();
  bf16.bfloat16 = true;
  write("bf16", Floats(Shape{5}), bf16);
  Tensor ids(DType::kInt32, Shape{4});
  for (int i = 0; i < 4; ++i) ids.data<int32_t>()[i] = i;
  write("i32", ids, TensorWireOptions::Copying());
  write("scalar", Floats(Shape{}), TensorWireOptions::Copying());
}

void WriteGraphSeeds(const fs::path& dir) {
  OpRegistry registry;
  (void)RegisterStandardOps(&registry);
  Graph g(&registry);
  Output x = Placeholder(g, DType::kFloat32, Shape{-1, 4}, "x");
  Output y = Placeholder(g, DType::kInt32, Shape{-1}, "y");
  Output w = Variable(g, "w", Shape{4, 3});
  Output b = Variable(g, "b", Shape{3});
  Output logits = Relu(MatMul(x, w) + b);
  Output loss = ReduceMean(SparseSoftmaxCrossEntropyWithLogits(logits, y));
  Const(g, Floats(Shape{4, 3}), "w/initial_value");
  Reshape(Transpose(logits, {1, 0}), Shape{-1});
  (void)loss;
  auto bytes = SerializeGraph(g);
  if (!bytes.ok()) throw std::runtime_error(bytes.status().ToString());
  Write(dir / "mlp", *bytes);
}

void WriteCheckpointSeeds(const fs::path& dir) {
  const fs::path scratch = fs::temp_directory_path() / "flowps_make_seeds";
  ps::ShardSnapshot snap;
  snap.global_step = 7;
  ps::VariableSnapshot v;
  v.name = "w";
  v.full_shape = Shape{4, 3};
  v.row_begin = 0;
  v.row_end = 4;
  v.value = Floats(Shape{4, 3});
  v.slots = {Floats(Shape{4, 3})};
  snap.variables.push_back(v);
  auto info = ps::WriteShardCheckpoint(scratch.string(), 5, 0, 1, snap);
  if (!info.ok()) throw std::runtime_error(info.status().ToString());
  std::ifstream in(ps::CheckpointShardPath(scratch.string(), 5, 0), std::ios::binary);
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove_all(scratch);
  Write(dir / "file_as_is", std::string(1, '\x01') + file);
  Write(dir / "payload", std::string(1, '\x00') + file.substr(0, file.size() - 20));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_seeds <tests/fuzz/corpus>\n";
    return 2;
  }
  kj::EventLoop loop;
  kj::WaitScope wait_scope(loop);
  const fs::path corpus = argv[1];
  WriteRpcSeeds(corpus / "fuzz_rpc_wire");
  WritePsSeeds(corpus / "fuzz_ps_service");
  WriteTensorSeeds(corpus / "fuzz_tensor_codec");
  WriteGraphSeeds(corpus / "fuzz_graph_def");
  WriteCheckpointSeeds(corpus / "fuzz_checkpoint");
  std::cout << "wrote the seeds under " << corpus << "\n";
  return 0;
}

// The ps service (ps/parameter_server_impl) on any sequence of calls, decoded
// as the daemon decodes them: each call's params are read from a message with
// the daemon's ReaderOptions and handed to a fresh shard through an
// in-process capability, one call after the other.
//
// Input: records of [method: 1 byte][length: 2 bytes, little-endian][params
// message: `length` bytes, Cap'n Proto words]. configure's checkpoint folder
// is replaced by a scratch folder (or none).
#include <spdlog/sinks/null_sink.h>

#include <cstdint>
#include <memory>

#include <capnp/any.h>
#include <capnp/serialize.h>
#include <kj/async-io.h>

#include "core/logging.h"
#include "core/thread_pool.h"
#include "fuzz_util.h"
#include "net/ps.capnp.h"
#include "net/rpc_common.h"
#include "net/rpc_server.h"
#include "ps/parameter_server_impl.h"

namespace {

constexpr uint16_t kMethods = 11;  // ParameterServer methods 0..10

struct Harness {
  kj::AsyncIoContext io = kj::setupAsyncIo();
  std::unique_ptr<flowps::ThreadPool> pool = flowps::NewAsioThreadPool(1);
  // No ResponseKeeper: calls through an in-process capability copy their answers.
  flowps::ServiceEnv env{kj::getCurrentThreadExecutor(), io.provider->getTimer(), *pool, nullptr};
  std::shared_ptr<spdlog::logger> log =
      flowps::MakeLogger("ps", {std::make_shared<spdlog::sinks::null_sink_mt>()});
};

void Sanitize(uint16_t method, capnp::Request<capnp::AnyPointer, capnp::AnyPointer>& request) {
  if (method != 10) return;
  auto params = request.getAs<flowps::wire::ParameterServer::ConfigureParams>();
  if (!params.hasConfig()) return;
  auto config = params.getConfig();
  config.setCheckpointDir(config.getCheckpointDir().size() % 2 == 1 ? flowps::fuzz::ScratchDir() + "/ckpt" : "");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness* h = new Harness();
  auto ps = flowps::ps::NewParameterServer(h->env, 0, 1, h->log);
  size_t at = 0;
  while (at + 3 <= size) {
    const uint16_t method = data[at] % kMethods;
    const size_t length = std::min<size_t>(data[at + 1] | data[at + 2] << 8, size - at - 3);
    auto words = flowps::fuzz::AsWords(data + at + 3, length);
    at += 3 + length;
    try {
      capnp::FlatArrayMessageReader reader(words, flowps::RpcReaderOptions());
      auto request = ps.typelessRequest(capnp::typeId<flowps::wire::ParameterServer>(), method, nullptr);
      request.set(reader.getRoot<capnp::AnyPointer>());
      Sanitize(method, request);
      // A call may wait (waitForStep, a sync step): give it 20 ms.
      auto call = request.send().ignoreResult().exclusiveJoin(h->io.provider->getTimer().afterDelay(20 * kj::MILLISECONDS));
      call.wait(h->io.waitScope);
    } catch (const kj::Exception&) {
      // Refused: the daemon answers the call with this error.
    }
  }
  return 0;
}

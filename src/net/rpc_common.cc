#include "net/rpc_common.h"

#include <string_view>

namespace flowps {

capnp::ReaderOptions RpcReaderOptions() {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = kTraversalLimitWords;
  return options;
}

Status StatusFromException(const kj::Exception& e, const std::string& context) {
  std::string description = e.getDescription().cStr();
  // Remote errors arrive as "remote exception: <the peer's message>".
  constexpr std::string_view kRemote = "remote exception: ";
  if (description.rfind(kRemote, 0) == 0) description = description.substr(kRemote.size());
  const std::string message = context.empty() ? description : context + ": " + description;
  if (description.find(kLoginRefused) != std::string::npos) return Unauthenticated(message);
  if (description.rfind(kDeadlineExceeded, 0) == 0) return DeadlineExceeded(message);
  switch (e.getType()) {
    case kj::Exception::Type::DISCONNECTED: return Unavailable(message);
    case kj::Exception::Type::OVERLOADED: return Unavailable(message);
    case kj::Exception::Type::UNIMPLEMENTED: return Unimplemented(message);
    case kj::Exception::Type::FAILED: return InvalidArgument(message);
  }
  return Internal(message);
}

Status WaitFor(kj::Promise<void>&& promise, kj::WaitScope& wait_scope, const std::string& context) {
  try {
    promise.wait(wait_scope);
    return Status::OK();
  } catch (const kj::Exception& e) {
    return StatusFromException(e, context);
  }
}

}  // namespace flowps

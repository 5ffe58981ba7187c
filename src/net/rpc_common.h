// What both ends of a flowps connection agree on, and how KJ errors become Status.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <capnp/message.h>
#include <kj/async.h>
#include <kj/exception.h>
#include <kj/timer.h>

#include "core/status.h"

namespace flowps {

// The largest message either end reads or sends: 8 GiB. The sender refuses a
// message over its own limit and a receiver with a smaller limit silently drops
// the connection, so server and client both use RpcReaderOptions().
constexpr uint64_t kTraversalLimitWords = uint64_t{1} << 30;
capnp::ReaderOptions RpcReaderOptions();

// The message a Gate gives for a wrong or missing token.
constexpr const char* kLoginRefused = "login refused: wrong or missing cluster token";
// Prefix of the exception a deadline raises.
constexpr const char* kDeadlineExceeded = "deadline exceeded";

// A Status for a KJ exception (a remote one included), prefixed by `context`:
// a refused login -> Unauthenticated, a deadline -> DeadlineExceeded,
// a broken connection -> Unavailable, anything else -> Internal or the
// peer's message as InvalidArgument for a failed requirement.
Status StatusFromException(const kj::Exception& e, const std::string& context);

// `promise`, or an OVERLOADED exception "deadline exceeded: <what> after N ms"
// if it has not resolved by then (the call is cancelled).
template <typename T>
kj::Promise<T> WithDeadline(kj::Timer& timer, std::chrono::milliseconds timeout, kj::Promise<T> promise,
                            std::string what) {
  auto ms = timeout.count();
  return promise.exclusiveJoin(
      timer.afterDelay(static_cast<int64_t>(ms) * kj::MILLISECONDS).then([what = kj::mv(what), ms]() -> kj::Promise<T> {
        return KJ_EXCEPTION(OVERLOADED, kj::str(kDeadlineExceeded, ": ", what.c_str(), " after ", ms, " ms"));
      }));
}

// Waits for `promise` on this thread's event loop (for CLI code and tests)
// and converts a failure to a Status prefixed by `context`.
template <typename T>
StatusOr<T> WaitFor(kj::Promise<T>&& promise, kj::WaitScope& wait_scope, const std::string& context) {
  try {
    return promise.wait(wait_scope);
  } catch (const kj::Exception& e) {
    return StatusFromException(e, context);
  }
}
Status WaitFor(kj::Promise<void>&& promise, kj::WaitScope& wait_scope, const std::string& context);

}  // namespace flowps

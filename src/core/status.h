// Status: the one error type of flowps. Errors are values; propagate them with
//   FLOWPS_RETURN_IF_ERROR(expr);
// A Status carries a code and a message that says what was wrong and where
// (file:line, node name, variable name). Bad input never aborts a process.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace flowps {

enum class Code {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kOutOfRange,
  kUnauthenticated,
  kPermissionDenied,
  kUnavailable,
  kDeadlineExceeded,
  kAborted,
  kInternal,
  kUnimplemented,
};

const char* CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: message", or "OK".
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context + ": "`.
  Status WithContext(const std::string& context) const;

  bool operator==(const Status&) const = default;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return Status(Code::kInvalidArgument, std::move(m)); }
inline Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
inline Status AlreadyExists(std::string m) { return Status(Code::kAlreadyExists, std::move(m)); }
inline Status FailedPrecondition(std::string m) { return Status(Code::kFailedPrecondition, std::move(m)); }
inline Status OutOfRange(std::string m) { return Status(Code::kOutOfRange, std::move(m)); }
inline Status Unauthenticated(std::string m) { return Status(Code::kUnauthenticated, std::move(m)); }
inline Status PermissionDenied(std::string m) { return Status(Code::kPermissionDenied, std::move(m)); }
inline Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
inline Status DeadlineExceeded(std::string m) { return Status(Code::kDeadlineExceeded, std::move(m)); }
inline Status Aborted(std::string m) { return Status(Code::kAborted, std::move(m)); }
inline Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }
inline Status Unimplemented(std::string m) { return Status(Code::kUnimplemented, std::move(m)); }

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const Status& s) : status_(s) {}  // REQUIRES: !s.ok()
  StatusOr(Status&& s) : status_(std::move(s)) {}
  StatusOr(const T& v) : value_(v) {}
  StatusOr(T&& v) : value_(std::move(v)) {}

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  // REQUIRES: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace flowps

#define FLOWPS_CONCAT_INNER(a, b) a##b
#define FLOWPS_CONCAT(a, b) FLOWPS_CONCAT_INNER(a, b)

#define FLOWPS_RETURN_IF_ERROR(expr)              \
  do {                                            \
    ::flowps::Status _flowps_s = (expr);          \
    if (!_flowps_s.ok()) return _flowps_s;        \
  } while (0)

// FLOWPS_ASSIGN_OR_RETURN(auto x, MakeX());
#define FLOWPS_ASSIGN_OR_RETURN(lhs, expr)                                  \
  auto FLOWPS_CONCAT(_flowps_so_, __LINE__) = (expr);                       \
  if (!FLOWPS_CONCAT(_flowps_so_, __LINE__).ok())                           \
    return FLOWPS_CONCAT(_flowps_so_, __LINE__).status();                   \
  lhs = std::move(FLOWPS_CONCAT(_flowps_so_, __LINE__)).value()

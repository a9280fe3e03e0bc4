// Status and Result<T>: errors as values across every module boundary.
//
// A Status is either OK or carries a Code and a message. Messages are built
// as a context chain, outermost first ("pack 3f2a…: blob 9c1e…: MAC
// mismatch"), with WithContext(). Result<T> holds a value or a non-OK Status.
// Both are [[nodiscard]]: ignoring an error is a visible act.
//
// Thread-safety: values; no shared state.
#pragma once

#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace jsnap {

class [[nodiscard]] Status {
 public:
  // Stable codes; the CLI maps them to exit codes (docs/exit-codes in README).
  enum class Code {
    kOk = 0,
    kNotFound,
    kCorruption,      // repository data failed a check (MAC, hash, format)
    kIOError,         // the OS refused (errno text in the message)
    kInvalidArgument, // the caller asked for something malformed
    kNoRepository,    // no repository at the given location
    kWrongPassword,   // no key file opens with the password
    kLocked,          // another process holds a conflicting lock
    kNoSpace,         // ENOSPC / EDQUOT while writing
    kAlreadyExists,   // refusing to overwrite
    kAborted,         // a child command failed, or the user interrupted
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NoRepository(std::string m) { return {Code::kNoRepository, std::move(m)}; }
  static Status WrongPassword(std::string m) { return {Code::kWrongPassword, std::move(m)}; }
  static Status Locked(std::string m) { return {Code::kLocked, std::move(m)}; }
  static Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status Aborted(std::string m) { return {Code::kAborted, std::move(m)}; }
  // Maps an errno value to IOError / NoSpace / NotFound, prefixed with `what`.
  static Status FromErrno(int err, const std::string& what);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }

  // Returns a copy whose message is "context: message". OK stays OK.
  Status WithContext(const std::string& context) const;
  std::string ToString() const;

 private:
  Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status s) : v_(std::move(s)) {      // NOLINT: implicit by design
    if (std::get<Status>(v_).ok()) std::abort();  // an OK Status carries no value
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace jsnap

#define JSNAP_CONCAT_INNER(a, b) a##b
#define JSNAP_CONCAT(a, b) JSNAP_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when it is not OK.
#define RETURN_IF_ERROR(expr)                 \
  do {                                        \
    ::jsnap::Status _st = (expr);             \
    if (!_st.ok()) return _st;                \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, F())` declares x from a Result or returns its Status.
#define ASSIGN_OR_RETURN(decl, expr) \
  ASSIGN_OR_RETURN_IMPL(JSNAP_CONCAT(_res_, __LINE__), decl, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  decl = std::move(tmp).value()

// Programming errors (broken invariants) abort with a message; never used for
// bad input, which gets a Status.
#define JSNAP_CHECK(cond)                                                  \
  do {                                                                     \
    if (!(cond)) ::jsnap::internal::CheckFailed(#cond, __FILE__, __LINE__); \
  } while (0)

namespace jsnap::internal {
[[noreturn]] void CheckFailed(const char* cond, const char* file, int line);
}

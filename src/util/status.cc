#include "jsnap/status.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace jsnap {

Status Status::FromErrno(int err, const std::string& what) {
  std::string msg = what + ": " + std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return NoSpace(msg + " (free some space and run the command again)");
    case ENOENT:
      return NotFound(msg);
    default:
      return IOError(msg);
  }
}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + message_);
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return message_;
}

namespace internal {
void CheckFailed(const char* cond, const char* file, int line) {
  std::fprintf(stderr, "jsnap: internal error: CHECK(%s) failed at %s:%d\n", cond, file, line);
  std::abort();
}
}  // namespace internal

}  // namespace jsnap

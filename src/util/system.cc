#include "jsnap/system.h"

#include <pwd.h>
#include <unistd.h>

namespace jsnap {

std::string CurrentUser() {
  struct passwd pw, *res = nullptr;
  char buf[4096];
  if (getpwuid_r(::geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res != nullptr) return res->pw_name;
  return std::to_string(::geteuid());
}

std::string CurrentHost() {
  char buf[256] = {};
  ::gethostname(buf, sizeof(buf) - 1);
  return buf;
}

}  // namespace jsnap

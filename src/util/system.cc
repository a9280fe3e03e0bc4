#include "jsnap/system.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>

namespace jsnap {

std::string CurrentUser() {
  struct passwd pw, *res = nullptr;
  char buf[4096];
  if (getpwuid_r(::geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res != nullptr) return res->pw_name;
  return std::to_string(::geteuid());
}

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

Result<uint64_t> ParseSize(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  const std::string unit = end;
  double mult = -1;
  if (unit.empty()) mult = 1;
  else if (unit == "K") mult = 1024.0;
  else if (unit == "M") mult = 1048576.0;
  else if (unit == "G") mult = 1073741824.0;
  else if (unit == "T") mult = 1099511627776.0;
  if (end == text.c_str() || mult < 0 || v < 0) {
    return Status::InvalidArgument("'" + text + "' is not a size like 500M or 2G");
  }
  return static_cast<uint64_t>(v * mult);
}

std::string CurrentHost() {
  char buf[256] = {};
  ::gethostname(buf, sizeof(buf) - 1);
  return buf;
}

}  // namespace jsnap

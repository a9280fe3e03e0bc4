#include "source_file.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

namespace jsnap::internal {

UniqueFd OpenListedFile(int dir_fd, const std::string& name, bool may_wait) {
  auto open = [&](int flags) {
    UniqueFd fd(::openat(dir_fd, name.c_str(), flags | O_NOATIME));
    if (!fd.valid() && errno == EPERM) fd.Reset(::openat(dir_fd, name.c_str(), flags));  // O_NOATIME needs ownership
    return fd;
  };
  const int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC;
  // O_NONBLOCK stays set: reads of a regular file ignore it, and clearing
  // it would cost two more system calls per file read.
  UniqueFd fd = open(flags | O_NONBLOCK);
  if (!fd.valid() && errno == EWOULDBLOCK && may_wait) {
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
      fd = open(flags);
    } else {
      errno = EWOULDBLOCK;
    }
  }
  return fd;
}

void StartReadAhead(int fd, uint64_t size) {
  if (size == 0) return;
  ::posix_fadvise(fd, 0, static_cast<off_t>(std::min(size, kReadAheadBytes)), POSIX_FADV_WILLNEED);
  // The rest is read by the worker: twice the default read-ahead window.
  if (size > kReadAheadBytes) ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
}

}  // namespace jsnap::internal

#include "listing.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "node_info.h"

namespace jsnap::internal {

ListedEntry StatEntry(int dir_fd, const std::string& name) {
  ListedEntry e;
  e.name = name;
  if (::fstatat(dir_fd, name.c_str(), &e.st, AT_SYMLINK_NOFOLLOW) != 0) {
    e.stat_errno = errno;
    return e;
  }
  if (S_ISLNK(e.st.st_mode)) {
    std::string target(static_cast<size_t>(e.st.st_size) + 1, '\0');
    const ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
    if (n < 0) {
      e.link_errno = errno;
    } else {
      target.resize(static_cast<size_t>(n));
      e.link_target = std::move(target);
    }
  }
  return e;
}

DirectoryListing ListDirectory(int parent_fd, const std::string& name, std::string path,
                               const std::atomic<bool>* cancel) {
  DirectoryListing l;
  l.path = std::move(path);
  l.fd = std::make_shared<UniqueFd>(
      ::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!l.fd->valid()) {
    l.open_errno = errno;
    return l;
  }
  struct stat self;
  if (::fstat(l.fd->get(), &self) == 0) {
    l.dev = self.st_dev;
    l.ino = self.st_ino;
  }
  ReadXattrs(l.fd->get(), &l.xattrs);
  // readdir on a duplicate: closedir closes it, the listing keeps its own.
  // Close-on-exec: a password command or --stdin-from-command may be
  // starting meanwhile.
  const int dup_fd = ::fcntl(l.fd->get(), F_DUPFD_CLOEXEC, 0);
  DIR* d = dup_fd >= 0 ? ::fdopendir(dup_fd) : nullptr;
  if (d == nullptr) {
    l.list_errno = errno;
    if (dup_fd >= 0) ::close(dup_fd);
    return l;
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
  }
  l.list_errno = errno;
  ::closedir(d);
  std::sort(names.begin(), names.end());
  l.entries.reserve(names.size());
  for (const std::string& n : names) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) break;
    l.entries.push_back(StatEntry(l.fd->get(), n));
  }
  return l;
}

bool IsListingOf(const DirectoryListing& listing, const struct stat& st) {
  return !listing.fd->valid() || (listing.dev == st.st_dev && listing.ino == st.st_ino);
}

WalkRules::WalkRules(const ArchiveOptions& opts, const std::string& repo_root)
    : excludes_(opts.excludes),
      sqlite_(opts.sqlite_paths.begin(), opts.sqlite_paths.end()),
      one_file_system_(opts.one_file_system) {
  struct stat st;
  if (::stat(repo_root.c_str(), &st) == 0) {
    has_repo_ = true;
    repo_dev_ = st.st_dev;
    repo_ino_ = st.st_ino;
  }
}

bool WalkRules::LeftOut(const std::string& path, const struct stat& st) const {
  if (excludes_.Excluded(path, S_ISDIR(st.st_mode))) return true;
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    const size_t n = std::strlen(suffix);
    if (path.size() > n && path.compare(path.size() - n, n, suffix) == 0 &&
        sqlite_.count(path.substr(0, path.size() - n)) != 0) {
      return true;
    }
  }
  return false;
}

bool WalkRules::ListsContents(const struct stat& st, dev_t root_dev) const {
  if (one_file_system_ && st.st_dev != root_dev) return false;
  return !(has_repo_ && st.st_dev == repo_dev_ && st.st_ino == repo_ino_);
}

bool WalkRules::Descends(const std::string& path, const struct stat& st, dev_t root_dev) const {
  return S_ISDIR(st.st_mode) && !LeftOut(path, st) && !IsSqlite(path) && ListsContents(st, root_dev);
}

}  // namespace jsnap::internal

#include "jsnap/lock.h"

#include <dirent.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <thread>

#include "jsnap/file_util.h"
#include "jsnap/system.h"

namespace jsnap {

namespace {

// Describes the live holders from their info files, removing those whose
// process (on this host) is gone.
std::string DescribeHolders(const std::string& dir) {
  std::string out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  const std::string host = CurrentHost();
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name.ends_with(".lock") || name[0] == '.') continue;
    const std::string path = JoinPath(dir, name);
    size_t dash = name.rfind('-');
    if (dash != std::string::npos && name.substr(0, dash) == host) {
      pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + dash + 1));
      if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) {
        // Stale: its process is gone (and with it its flock).
        std::fprintf(stderr, "jsnap: removing stale lock info %s (process %d is gone)\n",
                     name.c_str(), static_cast<int>(pid));
        ::unlink(path.c_str());
        continue;
      }
    }
    auto text = ReadWholeFile(path);
    if (text.ok()) out += "\n  " + text.value();
  }
  ::closedir(d);
  return out;
}

// flock with retries until the deadline; Locked naming the holders after.
Status FlockUntil(int fd, int op, std::chrono::steady_clock::time_point deadline,
                  const std::string& dir, const std::string& repo_root, const std::string& path) {
  while (::flock(fd, op | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) return Status::FromErrno(errno, "lock " + path);
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string holders = DescribeHolders(dir);
      return Status::Locked(
          "repository " + repo_root + " is locked by another jsnap process" +
          (holders.empty() ? std::string() : ":" + holders) +
          "\nwait for it to finish, or retry with --wait-lock DURATION (e.g. --wait-lock 10m)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<RepoLock>> RepoLock::Acquire(const std::string& repo_root, LockMode mode,
                                                    std::chrono::milliseconds wait,
                                                    const std::string& description) {
  const std::string dir = JoinPath(repo_root, "locks");
  RETURN_IF_ERROR(MakeDirs(dir));
  const std::string path = JoinPath(dir, "repo.lock");
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    // A read-only repository (a mounted backup disk) can still be read.
    if (mode == LockMode::kShared && (errno == EROFS || errno == EACCES)) {
      return std::unique_ptr<RepoLock>(new RepoLock(-1, -1, ""));
    }
    return Status::FromErrno(errno, "open lock file " + path);
  }
  const auto deadline = std::chrono::steady_clock::now() + wait;
  UniqueFd append;
  if (mode == LockMode::kAppend) {
    const std::string append_path = JoinPath(dir, "append.lock");
    append.Reset(::open(append_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!append.valid()) return Status::FromErrno(errno, "open lock file " + append_path);
    RETURN_IF_ERROR(FlockUntil(append.get(), LOCK_EX, deadline, dir, repo_root, append_path));
  }
  RETURN_IF_ERROR(FlockUntil(fd.get(), mode == LockMode::kExclusive ? LOCK_EX : LOCK_SH, deadline,
                             dir, repo_root, path));
  const char* kind = mode == LockMode::kExclusive ? "exclusive" : mode == LockMode::kAppend ? "append" : "shared";
  const std::string info_path = JoinPath(dir, CurrentHost() + "-" + std::to_string(::getpid()));
  const std::string info = std::string(kind) + " lock held by pid " + std::to_string(::getpid()) +
                           " on " + CurrentHost() + " since " + std::to_string(std::time(nullptr)) +
                           " (" + description + ")";
  // Best effort: the info file only helps messages; flock is the lock.
  (void)WriteFileAtomic(info_path, info, 0644);
  return std::unique_ptr<RepoLock>(new RepoLock(fd.Release(), append.Release(), info_path));
}

RepoLock::~RepoLock() {
  if (!info_path_.empty()) ::unlink(info_path_.c_str());
  if (fd_ >= 0) ::close(fd_);  // releases the flock
  if (append_fd_ >= 0) ::close(append_fd_);
}

Result<std::vector<std::string>> RepoLock::RemoveStaleInfo(const std::string& repo_root, bool all) {
  const std::string dir = JoinPath(repo_root, "locks");
  std::vector<std::string> removed;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return removed;
  const std::string host = CurrentHost();
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == ".." || name.ends_with(".lock")) continue;
    const std::string path = JoinPath(dir, name);
    bool stale = all || name[0] == '.';  // '.tmp-*': an interrupted info write
    const size_t dash = name.rfind('-');
    if (!stale && dash != std::string::npos && name.substr(0, dash) == host) {
      const pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + dash + 1));
      stale = pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
    }
    if (stale && ::unlink(path.c_str()) == 0) removed.push_back(name);
  }
  ::closedir(d);
  return removed;
}

}  // namespace jsnap

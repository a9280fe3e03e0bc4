#include "jsnap/lock.h"

#include <dirent.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
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
    if (name == "." || name == ".." || name == "repo.lock" || name[0] == '.') continue;
    const std::string path = JoinPath(dir, name);
    size_t dash = name.rfind('-');
    if (dash != std::string::npos && name.substr(0, dash) == host) {
      pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + dash + 1));
      if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) {
        ::unlink(path.c_str());  // stale: its process is gone
        continue;
      }
    }
    auto text = ReadWholeFile(path);
    if (text.ok()) out += "\n  " + text.value();
  }
  ::closedir(d);
  return out;
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
      return std::unique_ptr<RepoLock>(new RepoLock(-1, ""));
    }
    return Status::FromErrno(errno, "open lock file " + path);
  }
  const int op = (mode == LockMode::kExclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (::flock(fd.get(), op) != 0) {
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
  const std::string info_path = JoinPath(dir, CurrentHost() + "-" + std::to_string(::getpid()));
  const std::string info = std::string(mode == LockMode::kExclusive ? "exclusive" : "shared") +
                           " lock held by pid " + std::to_string(::getpid()) + " on " +
                           CurrentHost() + " since " + std::to_string(std::time(nullptr)) +
                           " (" + description + ")";
  // Best effort: the info file only helps messages; flock is the lock.
  (void)WriteFileAtomic(info_path, info, 0644);
  return std::unique_ptr<RepoLock>(new RepoLock(fd.Release(), info_path));
}

RepoLock::~RepoLock() {
  if (!info_path_.empty()) ::unlink(info_path_.c_str());
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

}  // namespace jsnap

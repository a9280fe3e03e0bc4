// RepoLock: the repository locks, flock(2)s on files in `locks/`.
//
//   kShared     readers (restore, ls, check):  shared `repo.lock`
//   kAppend     writers that only add (create): shared `repo.lock` and
//               exclusive `append.lock` (the index has one writer at a time)
//   kExclusive  deleters (forget, prune, repair): exclusive `repo.lock`
//
// So create, restore and check run beside each other, two creates take
// turns, and prune excludes everyone. flock is released by the kernel when
// the process dies, so a `kill -9` never leaves a stale lock behind. Each
// holder also writes `locks/<host>-<pid>` describing itself, which is what a
// waiting process shows; such files left by dead processes are reported and
// removed (also by `jsnap unlock`).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "jsnap/status.h"

namespace jsnap {

enum class LockMode { kShared, kAppend, kExclusive };

class RepoLock {
 public:
  // Waits up to `wait` for the lock; Locked (naming the holders) after that.
  static Result<std::unique_ptr<RepoLock>> Acquire(const std::string& repo_root, LockMode mode,
                                                   std::chrono::milliseconds wait,
                                                   const std::string& description);
  ~RepoLock();
  // Removes info files of processes that are gone (on this host), or all of
  // them with `all`. Returns what was removed. The flocks themselves need no
  // removal: they die with their process.
  static Result<std::vector<std::string>> RemoveStaleInfo(const std::string& repo_root, bool all);
  RepoLock(const RepoLock&) = delete;
  RepoLock& operator=(const RepoLock&) = delete;

 private:
  RepoLock(int fd, int append_fd, std::string info_path)
      : fd_(fd), append_fd_(append_fd), info_path_(std::move(info_path)) {}
  int fd_;
  int append_fd_;
  std::string info_path_;
};

}  // namespace jsnap

// RepoLock: the repository lock, an flock(2) on `locks/repo.lock`.
//
// Operations that add data (create, key changes) and those that delete it
// (prune, repair) take it exclusively; readers (restore, ls, check) share it.
// flock is released by the kernel when the process dies, so a `kill -9`
// never leaves a stale lock behind. Each holder also writes
// `locks/<host>-<pid>` describing itself, which is what a waiting process
// shows; such files left by dead processes are ignored and cleaned up.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "jsnap/status.h"

namespace jsnap {

enum class LockMode { kShared, kExclusive };

class RepoLock {
 public:
  // Waits up to `wait` for the lock; Locked (naming the holders) after that.
  static Result<std::unique_ptr<RepoLock>> Acquire(const std::string& repo_root, LockMode mode,
                                                   std::chrono::milliseconds wait,
                                                   const std::string& description);
  ~RepoLock();
  RepoLock(const RepoLock&) = delete;
  RepoLock& operator=(const RepoLock&) = delete;

 private:
  RepoLock(int fd, std::string info_path) : fd_(fd), info_path_(std::move(info_path)) {}
  int fd_;
  std::string info_path_;
};

}  // namespace jsnap

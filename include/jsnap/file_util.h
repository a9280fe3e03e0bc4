// Small POSIX file helpers shared by the backend, the index and the restorer.
// Every function returns a Status naming the path and the errno text.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "jsnap/status.h"

namespace jsnap {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) Reset(o.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Writes all of `data` to fd, retrying short writes and EINTR.
Status WriteAll(int fd, std::string_view data, const std::string& what);
// Writes all of `data` at `offset` (pwrite; the file position is untouched).
Status WriteAt(int fd, std::string_view data, uint64_t offset, const std::string& what);
// Reads exactly `len` bytes at `offset`; Corruption if the file is shorter.
Result<std::string> ReadAt(int fd, uint64_t offset, size_t len, const std::string& what);
// ReadAt into `out`, reusing its buffer.
Status ReadAtInto(int fd, uint64_t offset, size_t len, const std::string& what, std::string* out);
Result<std::string> ReadWholeFile(const std::string& path);
// Atomic replace: temp file in the same directory, fsync, rename, fsync dir.
// Readers see the old content or the new, never a mix; a crash leaves at most
// a stray temp file (named ".tmp-*"), never a partial `path`.
Status WriteFileAtomic(const std::string& path, std::string_view data, int mode = 0600);
// A fresh temp file name in `dir`: ".tmp-" and 16 random hex digits (spec §4).
std::string NewTempPath(const std::string& dir);
// Deletes the temp files (NewTempPath's names) directly in `dir`, which
// only interrupted writes leave once no writer of `dir` runs; returns how
// many. A missing `dir` has none; one that cannot be listed is an error.
Result<size_t> RemoveTempFiles(const std::string& dir);
Status FsyncDir(const std::string& dir);
// mkdir -p; existing directories are fine.
Status MakeDirs(const std::string& path, int mode = 0700);
bool PathExists(const std::string& path);
std::string DirName(const std::string& path);
std::string JoinPath(const std::string& a, const std::string& b);

}  // namespace jsnap

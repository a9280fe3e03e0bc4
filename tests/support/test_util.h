// Shared by the unit and integration tests: temporary folders, running the
// real jsnap binary, and a full description of a directory tree (content
// hashes, modes, times, owners, link targets, hard-link groups, holes,
// xattrs) for byte-and-metadata comparisons.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace jsnap::test {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& data);
std::string ReadFile(const std::string& path);
std::string RandomBytes(size_t n, uint64_t seed);
void RemoveAll(const std::string& path);

struct CommandResult {
  int exit_code = -1;  // 128+signal when killed
  std::string out;
  std::string err;
};
// Runs argv[0] with the given extra environment ("K=V"); stdin from /dev/null
// unless `input` is given.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
                  const std::string* input = nullptr);
// Runs the jsnap binary under test with -r repo and a password file.
CommandResult Jsnap(const std::string& repo, const std::string& password_file,
                    std::vector<std::string> args);
std::string JsnapBinary();
// Starts a command in the background; returns its pid. Output is
// discarded, or standard error goes to `err_path` when given.
int Spawn(const std::vector<std::string>& argv, const std::string& err_path = "");
// Waits for a spawned process; returns its exit code or 128+signal.
int WaitFor(int pid);

struct EntryInfo {
  char type = '?';  // f d l p s c b
  uint32_t mode = 0;
  uint32_t uid = 0, gid = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string link_target;
  std::string content_hash;  // BLAKE2b of the bytes (files)
  std::string hardlink_group;  // first path (sorted) sharing the inode, when nlink > 1
  uint64_t data_blocks = 0;    // 512-byte blocks allocated (sparse layout)
  std::map<std::string, std::string> xattrs;
  bool operator==(const EntryInfo&) const = default;
};
// Relative path -> info for everything below `root` (not root itself).
// With `dir_mtimes` false, directory mtimes are left out.
std::map<std::string, EntryInfo> DescribeTree(const std::string& root, bool dir_mtimes = true);
// Human-readable list of differences; empty when identical.
std::string DiffTrees(const std::map<std::string, EntryInfo>& a,
                      const std::map<std::string, EntryInfo>& b, bool compare_blocks = true);

}  // namespace jsnap::test

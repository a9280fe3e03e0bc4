// Directory listings for the walk of `jsnap create`: what the file system
// says about a directory (its xattrs) and its entries (stat data, link
// targets), and the rules for which entries the walk leaves out or descends
// into. The archiver and the scan that runs ahead of it (source_scan.h) both
// list through here, so they see and skip exactly the same things.
// Internal to the archiver.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "jsnap/archiver.h"
#include "jsnap/file_util.h"
#include "jsnap/tree.h"

namespace jsnap::internal {

struct ListedEntry {
  std::string name;
  struct stat st {};
  int stat_errno = 0;       // lstat failed: `st` says nothing
  std::string link_target;  // symlinks
  int link_errno = 0;       // readlink failed
};

// Stats `name` in the directory `dir_fd` without following a symlink, and
// reads the target if it is one.
ListedEntry StatEntry(int dir_fd, const std::string& name);

struct DirectoryListing {
  std::string path;                // absolute
  std::shared_ptr<UniqueFd> fd;    // the directory; invalid when it did not open
  int open_errno = 0;
  dev_t dev = 0;                   // the directory opened (when it opened)
  ino_t ino = 0;
  std::vector<Xattr> xattrs;       // the directory's own
  std::vector<ListedEntry> entries;  // sorted by name, without "." and ".."
  int list_errno = 0;              // reading the entries failed part way
};

// Opens the directory `name` inside `parent_fd` (not through a symlink) and
// lists it. Once `cancel` (if given) is set, it stops early with what it has.
DirectoryListing ListDirectory(int parent_fd, const std::string& name, std::string path,
                               const std::atomic<bool>* cancel = nullptr);
// Whether `listing` is of the directory `st` describes (it was not replaced
// between the stat and the open).
bool IsListingOf(const DirectoryListing& listing, const struct stat& st);

class WalkRules {
 public:
  WalkRules(const ArchiveOptions& opts, const std::string& repo_root);

  // Excluded by a pattern, or the -wal/-shm/-journal of a database imaged
  // through SQLite.
  bool LeftOut(const std::string& path, const struct stat& st) const;
  // Imaged through SQLite (--sqlite), whatever it is.
  bool IsSqlite(const std::string& path) const { return sqlite_.count(path) != 0; }
  // Whether a directory's entries are walked: not on another file system
  // than its source root (with --one-file-system), not the repository.
  bool ListsContents(const struct stat& st, dev_t root_dev) const;
  // Whether the walk lists the directory entry `path` found in a listing.
  bool Descends(const std::string& path, const struct stat& st, dev_t root_dev) const;

 private:
  ExcludeMatcher excludes_;
  std::set<std::string> sqlite_;
  bool one_file_system_ = false;
  bool has_repo_ = false;
  dev_t repo_dev_ = 0;
  ino_t repo_ino_ = 0;
};

}  // namespace jsnap::internal

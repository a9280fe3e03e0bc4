// Restorer: `jsnap restore`. Writes a snapshot (or the parts of it selected
// by include/exclude patterns) below a target directory.
//
// Safety: every file is created relative to an open directory descriptor of
// its parent with O_NOFOLLOW, and every directory is entered with
// O_DIRECTORY|O_NOFOLLOW, so no name in a snapshot (however crafted: "..",
// "/", a symlink planted earlier in the same restore) can make it write
// outside the target. In a directory the restore created itself (an empty
// target included) files are written under their own names, since nothing
// can be in the way; elsewhere they are written under a temporary name and
// renamed when complete, so an existing file is replaced whole or not at
// all, and never unless `overwrite`. A file that fails is removed; after a
// kill, the file being written may remain incomplete under its name, in a
// directory whose metadata was not yet applied.
// SQLite databases come back as standalone files: stale -wal, -shm and
// -journal files beside them are removed before the database is renamed
// into place, and a database another process holds SQLite locks on (any
// WAL-mode connection; a rollback-journal connection inside a transaction)
// is not replaced unless `force`.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "jsnap/exclude.h"
#include "jsnap/repository.h"

namespace jsnap {

struct RestoreProgress {
  std::atomic<uint64_t> files{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> total_files{0};
  std::atomic<uint64_t> total_bytes{0};
};

struct RestoreOptions {
  std::string target;
  // An include pattern selects a path, everything below it and the
  // directories above it. Empty: everything.
  ExcludeMatcher includes;
  ExcludeMatcher excludes;
  bool overwrite = false;
  // Replace SQLite databases even while another process has them open.
  bool force = false;
  bool restore_owner = false;  // chown to the recorded user/group (root only)
  size_t threads = 0;
  std::function<void(const std::string&)> warn;
  RestoreProgress* progress = nullptr;
};

struct RestoreResult {
  uint64_t files = 0;
  uint64_t dirs = 0;
  uint64_t bytes = 0;
  uint64_t errors = 0;
};

Result<RestoreResult> RestoreSnapshot(Repository& repo, const Snapshot& snapshot,
                                      const RestoreOptions& opts);

// Calls `fn` for every node below `tree_id`, depth first, with its absolute
// path in the snapshot ("/home/a/file"). A false return skips a directory's
// contents.
Status WalkTree(Repository& repo, const Id& tree_id, const std::string& prefix,
                const std::function<Result<bool>(const std::string& path, const Node&)>& fn);

}  // namespace jsnap

namespace jsnap {
// The node at absolute snapshot path `path` ("/" gives a directory node for
// the root). NotFound naming the path when it is not in the snapshot.
Result<Node> FindNode(Repository& repo, const Id& root_tree, const std::string& path);
}  // namespace jsnap

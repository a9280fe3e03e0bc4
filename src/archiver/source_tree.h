// The sources of a create arranged as a tree of path components: inner
// nodes are the directories leading to a source, leaves are archived whole,
// imaged through SQLite, or filled from a stream. The archiver walks it; the
// scan (source_scan.h) finds in it the roots it lists ahead of the walk.
// Internal to the archiver.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "jsnap/archiver.h"
#include "jsnap/status.h"

namespace jsnap::internal {

struct SourceTree {
  std::map<std::string, SourceTree> children;
  bool whole = false;             // archive this path and everything below it
  const StreamSource* stream = nullptr;
  bool sqlite = false;            // image this database
};

// "/a/b/c" -> {"a", "b", "c"}
std::vector<std::string> Components(const std::string& abs);
// Where a stream is stored: "db.sql", "/backups/db.sql", "../x" -> "/x".
std::string StreamPath(const StreamSource& s);
// The tree of `opts`' paths, streams and databases; the streams are
// referenced, so `opts` must outlive it. A stream may not lie inside a path
// archived whole, nor on the way to one, nor share its name with another:
// one would hide the other.
Result<SourceTree> BuildSourceTree(const ArchiveOptions& opts);
// The paths archived whole, in the order the archiver walks them ("/" when
// the root itself is one).
std::vector<std::string> WholePaths(const SourceTree& tree);

}  // namespace jsnap::internal

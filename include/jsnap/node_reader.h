// NodeReader: random-access reads of a stored file's content (a file node's
// chunk list), decoding each chunk when first needed and keeping the last
// few. Used to check SQLite images in place, and by `dump`-like readers.
// Not thread-safe: one reader per thread.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <utility>
#include <vector>

#include "jsnap/repository.h"

namespace jsnap {

class NodeReader {
 public:
  // Looks up every chunk's length in the index. NotFound when one is missing.
  static Result<NodeReader> Open(Repository& repo, const Node& node);
  uint64_t size() const { return offsets_.empty() ? 0 : offsets_.back(); }
  // Reads up to `len` bytes at `offset` (fewer at the end of the file).
  Result<std::string> Read(uint64_t offset, size_t len);

 private:
  NodeReader(Repository& repo, std::vector<Id> ids, std::vector<uint64_t> offsets)
      : repo_(&repo), ids_(std::move(ids)), offsets_(std::move(offsets)) {}
  Result<const std::string*> Chunk(size_t index);

  Repository* repo_;
  std::vector<Id> ids_;
  std::vector<uint64_t> offsets_;  // offsets_[i] = start of chunk i; last = size
  std::list<std::pair<size_t, std::string>> cache_;  // most recent first
};

// PRAGMA integrity_check on the SQLite image stored as `node`, read in
// place (no copy on disk); `path` names it in messages.
Status CheckStoredSqlite(Repository& repo, const Node& node, const std::string& path);

}  // namespace jsnap

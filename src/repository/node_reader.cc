#include "jsnap/node_reader.h"

#include <algorithm>

#include "jsnap/sqlite_source.h"

namespace jsnap {

namespace {
constexpr size_t kCachedChunks = 16;
}

Result<NodeReader> NodeReader::Open(Repository& repo, const Node& node) {
  std::vector<uint64_t> offsets{0};
  offsets.reserve(node.content.size() + 1);
  for (const Id& id : node.content) {
    ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, repo.index().Find(id));
    if (!loc) return Status::NotFound("chunk " + id.Hex() + " of " + node.name + " is not in the repository");
    offsets.push_back(offsets.back() + loc->raw_length);
  }
  return NodeReader(repo, node.content, std::move(offsets));
}

Result<const std::string*> NodeReader::Chunk(size_t index) {
  for (auto it = cache_.begin(); it != cache_.end(); ++it) {
    if (it->first == index) {
      cache_.splice(cache_.begin(), cache_, it);
      return &cache_.front().second;
    }
  }
  ASSIGN_OR_RETURN(std::string data, repo_->LoadBlob(ids_[index]));
  cache_.emplace_front(index, std::move(data));
  if (cache_.size() > kCachedChunks) cache_.pop_back();
  return &cache_.front().second;
}

Result<std::string> NodeReader::Read(uint64_t offset, size_t len) {
  std::string out;
  while (len > 0 && offset < size()) {
    // The chunk holding `offset`: the last start that is <= offset.
    const size_t index = static_cast<size_t>(
        std::upper_bound(offsets_.begin(), offsets_.end(), offset) - offsets_.begin() - 1);
    ASSIGN_OR_RETURN(const std::string* chunk, Chunk(index));
    const uint64_t within = offset - offsets_[index];
    const size_t n = static_cast<size_t>(std::min<uint64_t>(len, chunk->size() - within));
    out.append(*chunk, within, n);
    offset += n;
    len -= n;
  }
  return out;
}

Status CheckStoredSqlite(Repository& repo, const Node& node, const std::string& path) {
  ASSIGN_OR_RETURN(NodeReader reader, NodeReader::Open(repo, node));
  return CheckSqliteImage(path, node.size, [&](uint64_t off, size_t len) { return reader.Read(off, len); });
}

}  // namespace jsnap

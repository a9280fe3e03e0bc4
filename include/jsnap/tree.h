// Trees: one directory's entries, stored as a tree blob. A directory node
// names its subtree by id, so trees form a Merkle tree: an unchanged
// subdirectory encodes to the same bytes, has the same id, and is stored once
// however many snapshots share it.
//
// Encoding (format-spec.md, "Tree"): a record (record.h) whose field 1
// repeats, one per node, sorted by name bytes; each node is a record with the
// tags of NodeTag below. Names are arbitrary bytes except '/' and NUL, never
// "" / "." / "..": decoders reject others as Corruption.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jsnap/id.h"
#include "jsnap/status.h"

namespace jsnap {

enum class NodeType : uint8_t {
  kFile = 1,
  kDir = 2,
  kSymlink = 3,
  kFifo = 4,
  kSocket = 5,
  kCharDevice = 6,
  kBlockDevice = 7,
};
const char* NodeTypeName(NodeType t);

struct Xattr {
  std::string name;
  std::string value;
  bool operator==(const Xattr&) const = default;
};

// What a snapshotted SQLite database was (issue: database-aware sources).
struct SqliteInfo {
  uint32_t page_size = 0;
  uint64_t page_count = 0;
  std::string journal_mode;
  Id schema_fingerprint;
  int64_t user_version = 0;
  // BLAKE2b-256 of the stat data (size, mtime, ctime, inode) of the
  // database file and its -wal and -journal: equal in the next create means
  // no transaction committed since, so the image can be reused unread.
  Id source_state;
  bool operator==(const SqliteInfo&) const = default;
};

struct Node {
  std::string name;
  NodeType type = NodeType::kFile;
  uint32_t mode = 0;  // permission and set-id/sticky bits (st_mode & 07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string user;
  std::string group;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint64_t size = 0;
  std::string link_target;  // symlinks
  uint64_t device = 0;      // st_dev, with inode: hardlink identity and change detection
  uint64_t inode = 0;
  uint64_t links = 0;       // st_nlink
  uint64_t rdev = 0;        // device nodes
  std::vector<Xattr> xattrs;
  std::vector<Id> content;  // files: chunk ids in order
  Id subtree;               // directories
  std::optional<SqliteInfo> sqlite;

  bool operator==(const Node&) const = default;
};

struct Tree {
  std::vector<Node> nodes;  // sorted by name, names unique
  std::string Encode() const;
  // Sorts nodes by name; InvalidArgument on duplicate or invalid names.
  Status Normalize();
  const Node* Find(std::string_view name) const;
};

// Every node of a tree blob (EncodedTree::Parse, then each node decoded).
Result<Tree> DecodeTree(std::string_view data);
// One node's record as a tree blob holds it: a tree blob is its nodes'
// records concatenated in name order (what Tree::Encode writes). A writer
// may keep nodes encoded (~100 bytes each) instead of as Nodes (~400 bytes
// and their strings) until their tree is complete.
std::string EncodeTreeRecord(const Node& node);

// A tree blob whose nodes stay encoded until looked up: ~100 bytes per node
// against ~450 decoded. Whatever reads a tree one node at a time uses it:
// create, which compares each directory it lists with the directory's tree
// in the parent snapshot, and restore, ls, check and prune, which walk the
// trees (a folder of 300k files held 300k decoded Nodes in each). Parse
// checks the framing and that names are in order; a node's other fields
// are decoded by Find or At.
class EncodedTree {
 public:
  static Result<EncodedTree> Parse(std::string blob);
  // The node named `name`; nullopt when there is none. Corruption when its
  // record does not decode (as DecodeTree would have said of the tree).
  Result<std::optional<Node>> Find(std::string_view name) const;
  // The node at `i` (< size()) in name order; Corruption when its record
  // does not decode.
  Result<Node> At(size_t i) const;
  size_t size() const { return nodes_.size(); }
  // Every node decoded: the Tree DecodeTree returns.
  Result<Tree> Decode() const;

 private:
  struct Span {
    uint32_t offset, size;  // within blob_
  };
  struct Entry {
    Span record;  // the node record's body
    Span name;    // its name field, found once by Parse
  };
  std::string_view View(const Span& s) const { return std::string_view(blob_).substr(s.offset, s.size); }
  std::string blob_;
  std::vector<Entry> nodes_;  // in name order
};
// "", ".", "..", or containing '/' or NUL: names that could escape a target.
bool IsValidNodeName(std::string_view name);
// What Tree::Normalize requires of each name once the nodes are in name
// order: a valid name (IsValidNodeName), other than the one before it
// (`previous`, none for the first node).
Status CheckSortedNodeName(std::string_view name, std::optional<std::string_view> previous);

}  // namespace jsnap

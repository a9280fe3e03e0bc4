#include "jsnap/tree.h"

#include <algorithm>

#include "jsnap/record.h"

namespace jsnap {

namespace {

// Field tags of a node record. Never renumber: they are the format.
enum NodeTag : uint32_t {
  kName = 1, kType = 2, kMode = 3, kUid = 4, kGid = 5, kUser = 6, kGroup = 7,
  kMtime = 8, kCtime = 9, kSize = 10, kLinkTarget = 11, kDevice = 12, kInode = 13,
  kLinks = 14, kRdev = 15, kXattr = 16, kContent = 17, kSubtree = 18, kSqlite = 19,
};
enum XattrTag : uint32_t { kXattrName = 1, kXattrValue = 2 };
enum SqliteTag : uint32_t {
  kPageSize = 1, kPageCount = 2, kJournalMode = 3, kSchemaFingerprint = 4, kUserVersion = 5,
  kSourceState = 6,  // tag 7 held page fingerprints in development builds; skipped
};
constexpr uint32_t kTreeNodeField = 1;

std::string EncodeNode(const Node& n) {
  RecordWriter w;
  w.Bytes(kName, n.name);
  w.Uint(kType, static_cast<uint64_t>(n.type));
  w.Uint(kMode, n.mode);
  w.Uint(kUid, n.uid);
  w.Uint(kGid, n.gid);
  if (!n.user.empty()) w.Bytes(kUser, n.user);
  if (!n.group.empty()) w.Bytes(kGroup, n.group);
  w.Int(kMtime, n.mtime_ns);
  w.Int(kCtime, n.ctime_ns);
  w.Uint(kSize, n.size);
  if (n.type == NodeType::kSymlink) w.Bytes(kLinkTarget, n.link_target);
  w.Uint(kDevice, n.device);
  w.Uint(kInode, n.inode);
  w.Uint(kLinks, n.links);
  if (n.rdev != 0) w.Uint(kRdev, n.rdev);
  for (const Xattr& x : n.xattrs) {
    RecordWriter xw;
    xw.Bytes(kXattrName, x.name);
    xw.Bytes(kXattrValue, x.value);
    w.Bytes(kXattr, xw.data());
  }
  if (!n.content.empty()) {
    std::string ids;
    ids.reserve(n.content.size() * Id::kSize);
    for (const Id& id : n.content) ids.append(id.View());
    w.Bytes(kContent, ids);
  }
  if (n.type == NodeType::kDir) w.Bytes(kSubtree, n.subtree.View());
  if (n.sqlite) {
    RecordWriter sw;
    sw.Uint(kPageSize, n.sqlite->page_size);
    sw.Uint(kPageCount, n.sqlite->page_count);
    sw.Bytes(kJournalMode, n.sqlite->journal_mode);
    sw.Bytes(kSchemaFingerprint, n.sqlite->schema_fingerprint.View());
    sw.Int(kUserVersion, n.sqlite->user_version);
    if (!n.sqlite->source_state.IsZero()) sw.Bytes(kSourceState, n.sqlite->source_state.View());
    w.Bytes(kSqlite, sw.data());
  }
  return w.Take();
}

Result<Id> IdField(std::string_view bytes, const char* what) {
  if (bytes.size() != Id::kSize) return Status::Corruption(std::string(what) + " is not 32 bytes");
  return Id::FromBytes(bytes.data());
}

Result<SqliteInfo> DecodeSqlite(std::string_view data) {
  SqliteInfo s;
  RecordReader r(data);
  while (r.Next()) {
    switch (r.tag()) {
      case kPageSize: s.page_size = static_cast<uint32_t>(r.AsUint()); break;
      case kPageCount: s.page_count = r.AsUint(); break;
      case kJournalMode: s.journal_mode = std::string(r.bytes()); break;
      case kSchemaFingerprint: {
        ASSIGN_OR_RETURN(s.schema_fingerprint, IdField(r.bytes(), "schema fingerprint"));
        break;
      }
      case kUserVersion: s.user_version = r.AsInt(); break;
      case kSourceState: {
        ASSIGN_OR_RETURN(s.source_state, IdField(r.bytes(), "sqlite source state"));
        break;
      }
      default: break;
    }
  }
  RETURN_IF_ERROR(r.status());
  return s;
}

Result<Node> DecodeNode(std::string_view data) {
  Node n;
  bool has_name = false, has_type = false;
  RecordReader r(data);
  while (r.Next()) {
    switch (r.tag()) {
      case kName: n.name = std::string(r.bytes()); has_name = true; break;
      case kType: {
        uint64_t t = r.AsUint();
        if (t < 1 || t > 7) return Status::Corruption("node has unknown type " + std::to_string(t));
        n.type = static_cast<NodeType>(t);
        has_type = true;
        break;
      }
      case kMode: n.mode = static_cast<uint32_t>(r.AsUint() & 07777); break;
      case kUid: n.uid = static_cast<uint32_t>(r.AsUint()); break;
      case kGid: n.gid = static_cast<uint32_t>(r.AsUint()); break;
      case kUser: n.user = std::string(r.bytes()); break;
      case kGroup: n.group = std::string(r.bytes()); break;
      case kMtime: n.mtime_ns = r.AsInt(); break;
      case kCtime: n.ctime_ns = r.AsInt(); break;
      case kSize: n.size = r.AsUint(); break;
      case kLinkTarget: n.link_target = std::string(r.bytes()); break;
      case kDevice: n.device = r.AsUint(); break;
      case kInode: n.inode = r.AsUint(); break;
      case kLinks: n.links = r.AsUint(); break;
      case kRdev: n.rdev = r.AsUint(); break;
      case kXattr: {
        Xattr x;
        RecordReader xr(r.bytes());
        while (xr.Next()) {
          if (xr.tag() == kXattrName) x.name = std::string(xr.bytes());
          if (xr.tag() == kXattrValue) x.value = std::string(xr.bytes());
        }
        RETURN_IF_ERROR(xr.status());
        n.xattrs.push_back(std::move(x));
        break;
      }
      case kContent: {
        std::string_view ids = r.bytes();
        if (ids.size() % Id::kSize != 0) return Status::Corruption("node content list is malformed");
        for (size_t i = 0; i < ids.size(); i += Id::kSize) n.content.push_back(Id::FromBytes(ids.data() + i));
        break;
      }
      case kSubtree: {
        ASSIGN_OR_RETURN(n.subtree, IdField(r.bytes(), "subtree id"));
        break;
      }
      case kSqlite: {
        ASSIGN_OR_RETURN(SqliteInfo s, DecodeSqlite(r.bytes()));
        n.sqlite = std::move(s);
        break;
      }
      default: break;  // a newer writer's field: skip
    }
  }
  RETURN_IF_ERROR(r.status());
  if (!has_name || !has_type) return Status::Corruption("node without name or type");
  if (n.type == NodeType::kDir && n.subtree.IsZero()) {
    return Status::Corruption("directory node '" + n.name + "' has no subtree");
  }
  if (!IsValidNodeName(n.name)) {
    return Status::Corruption("node name '" + n.name + "' is not a plain file name");
  }
  return n;
}

}  // namespace

const char* NodeTypeName(NodeType t) {
  switch (t) {
    case NodeType::kFile: return "file";
    case NodeType::kDir: return "dir";
    case NodeType::kSymlink: return "symlink";
    case NodeType::kFifo: return "fifo";
    case NodeType::kSocket: return "socket";
    case NodeType::kCharDevice: return "chardev";
    case NodeType::kBlockDevice: return "blockdev";
  }
  return "unknown";
}

bool IsValidNodeName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

std::string Tree::Encode() const {
  RecordWriter w;
  for (const Node& n : nodes) w.Bytes(kTreeNodeField, EncodeNode(n));
  return w.Take();
}

namespace {
// The name field of a node record (the last, as DecodeNode takes it);
// Corruption when it has none.
Result<std::string_view> NodeName(std::string_view record) {
  RecordReader r(record);
  std::optional<std::string_view> name;
  while (r.Next()) {
    if (r.tag() == kName) name = r.bytes();
  }
  RETURN_IF_ERROR(r.status());
  if (!name) return Status::Corruption("node without name or type");
  return *name;
}
}  // namespace

Result<EncodedTree> EncodedTree::Parse(std::string blob) {
  if (blob.size() > UINT32_MAX) return Status::Corruption("tree blob of " + std::to_string(blob.size()) + " bytes");
  EncodedTree t;
  t.blob_ = std::move(blob);
  RecordReader r(t.blob_);
  std::string_view last;
  while (r.Next()) {
    if (r.tag() != kTreeNodeField) continue;
    const std::string_view body = r.bytes();
    ASSIGN_OR_RETURN(std::string_view name, NodeName(body));
    if (!t.nodes_.empty() && !(last < name)) {
      return Status::Corruption("tree nodes are not sorted or names repeat ('" + std::string(name) + "')");
    }
    auto span = [&](std::string_view part) {
      return Span{static_cast<uint32_t>(part.data() - t.blob_.data()), static_cast<uint32_t>(part.size())};
    };
    t.nodes_.push_back({span(body), span(name)});
    last = name;
  }
  RETURN_IF_ERROR(r.status());
  return t;
}

Result<std::optional<Node>> EncodedTree::Find(std::string_view name) const {
  auto it = std::lower_bound(nodes_.begin(), nodes_.end(), name,
                             [&](const Entry& e, std::string_view v) { return View(e.name) < v; });
  if (it == nodes_.end() || View(it->name) != name) return std::optional<Node>();
  ASSIGN_OR_RETURN(Node node, DecodeNode(View(it->record)));
  return std::optional<Node>(std::move(node));
}

Result<Node> EncodedTree::At(size_t i) const { return DecodeNode(View(nodes_[i].record)); }

Result<Tree> EncodedTree::Decode() const {
  Tree t;
  t.nodes.reserve(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    ASSIGN_OR_RETURN(Node n, At(i));
    t.nodes.push_back(std::move(n));
  }
  return t;
}

std::string EncodeTreeRecord(const Node& node) {
  RecordWriter w;
  w.Bytes(kTreeNodeField, EncodeNode(node));
  return w.Take();
}

Status Tree::Normalize() {
  std::sort(nodes.begin(), nodes.end(), [](const Node& a, const Node& b) { return a.name < b.name; });
  for (size_t i = 0; i < nodes.size(); ++i) {
    RETURN_IF_ERROR(CheckSortedNodeName(nodes[i].name, i > 0 ? std::optional<std::string_view>(nodes[i - 1].name)
                                                              : std::nullopt));
  }
  return Status::Ok();
}

Status CheckSortedNodeName(std::string_view name, std::optional<std::string_view> previous) {
  if (!IsValidNodeName(name)) return Status::InvalidArgument("invalid file name '" + std::string(name) + "'");
  if (previous == name) return Status::InvalidArgument("duplicate name '" + std::string(name) + "'");
  return Status::Ok();
}

const Node* Tree::Find(std::string_view name) const {
  auto it = std::lower_bound(nodes.begin(), nodes.end(), name,
                             [](const Node& n, std::string_view v) { return n.name < v; });
  return (it != nodes.end() && it->name == name) ? &*it : nullptr;
}

Result<Tree> DecodeTree(std::string_view data) {
  ASSIGN_OR_RETURN(EncodedTree encoded, EncodedTree::Parse(std::string(data)));
  return encoded.Decode();
}

}  // namespace jsnap

#include "source_tree.h"

namespace jsnap::internal {

namespace {

SourceTree* Insert(SourceTree* root, const std::string& abs) {
  SourceTree* cur = root;
  for (const std::string& c : Components(abs)) {
    if (cur->whole) break;  // an enclosing path covers it
    cur = &cur->children[c];
  }
  return cur;
}

void CollectWhole(const SourceTree& t, const std::string& abs, std::vector<std::string>* out) {
  for (const auto& [name, child] : t.children) {
    const std::string child_abs = abs + "/" + name;
    if (child.stream != nullptr) continue;
    if (child.whole) {
      out->push_back(child_abs);
    } else if (!child.sqlite) {
      CollectWhole(child, child_abs, out);
    }
  }
}

}  // namespace

std::vector<std::string> Components(const std::string& abs) {
  std::vector<std::string> out;
  size_t pos = 1;
  while (pos < abs.size()) {
    size_t slash = abs.find('/', pos);
    if (slash == std::string::npos) slash = abs.size();
    if (slash > pos) out.push_back(abs.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

std::string StreamPath(const StreamSource& s) { return NormalizePath("/" + s.name); }

Result<SourceTree> BuildSourceTree(const ArchiveOptions& opts) {
  SourceTree sources;
  for (const std::string& p : opts.paths) Insert(&sources, p)->whole = true;
  // Databases before streams: a stream's name then clashes with whatever
  // already lies at or below it.
  for (const std::string& db : opts.sqlite_paths) {
    SourceTree* leaf = Insert(&sources, db);
    if (leaf->whole) continue;  // the walk of an enclosing path finds it
    if (!leaf->children.empty()) {
      return Status::InvalidArgument("--sqlite " + db +
                                     " is a folder on the way to a path that is backed up: "
                                     "a database is a file of its own");
    }
    leaf->sqlite = true;
  }
  for (const StreamSource& s : opts.streams) {
    const std::string path = StreamPath(s);
    SourceTree* leaf = Insert(&sources, path);
    const char* clash = leaf->whole              ? "is inside a path that is backed up (or is one)"
                        : !leaf->children.empty() ? "is a folder on the way to a path that is backed up"
                        : leaf->stream != nullptr ? "is the name of another stream"
                        : leaf->sqlite            ? "is the name of a database given with --sqlite"
                                                  : nullptr;
    if (clash != nullptr) {  // one would hide the other in the snapshot
      return Status::InvalidArgument("the stream's name " + path + " " + clash +
                                     ": give it another name with --stdin-name");
    }
    leaf->stream = &s;
  }
  return sources;
}

std::vector<std::string> WholePaths(const SourceTree& tree) {
  if (tree.whole) return {"/"};
  std::vector<std::string> out;
  CollectWhole(tree, "", &out);
  return out;
}

}  // namespace jsnap::internal

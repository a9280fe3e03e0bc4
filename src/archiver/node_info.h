// Filling tree nodes from what the file system says (stat, owner names,
// xattrs, link targets). Internal to the archiver.
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

#include "jsnap/tree.h"

namespace jsnap::internal {

// Type, mode, ownership (names cached), times, size, identity.
void FillNodeFromStat(const std::string& name, const struct stat& st, Node* node);
// Extended attributes of an open file or directory; unreadable ones are
// skipped (file systems without xattrs, EPERM on trusted.*).
void ReadXattrs(int fd, std::vector<Xattr>* out);
// True when the parent's node describes the same file content.
bool SameFileMetadata(const Node& now, const Node& before);

}  // namespace jsnap::internal

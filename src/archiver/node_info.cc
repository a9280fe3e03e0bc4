#include "node_info.h"

#include <grp.h>
#include <pwd.h>
#include <sys/xattr.h>

#include <algorithm>
#include <map>
#include <mutex>

namespace jsnap::internal {

namespace {

std::string UserName(uid_t uid) {
  static std::mutex mu;
  static std::map<uid_t, std::string> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(uid);
  if (it != cache.end()) return it->second;
  struct passwd pw, *res = nullptr;
  char buf[4096];
  std::string name;
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != nullptr) name = res->pw_name;
  return cache[uid] = name;
}

std::string GroupName(gid_t gid) {
  static std::mutex mu;
  static std::map<gid_t, std::string> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(gid);
  if (it != cache.end()) return it->second;
  struct group gr, *res = nullptr;
  char buf[4096];
  std::string name;
  if (getgrgid_r(gid, &gr, buf, sizeof(buf), &res) == 0 && res != nullptr) name = res->gr_name;
  return cache[gid] = name;
}

NodeType TypeOf(mode_t m) {
  if (S_ISDIR(m)) return NodeType::kDir;
  if (S_ISLNK(m)) return NodeType::kSymlink;
  if (S_ISFIFO(m)) return NodeType::kFifo;
  if (S_ISSOCK(m)) return NodeType::kSocket;
  if (S_ISCHR(m)) return NodeType::kCharDevice;
  if (S_ISBLK(m)) return NodeType::kBlockDevice;
  return NodeType::kFile;
}

int64_t Nanos(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

void FillNodeFromStat(const std::string& name, const struct stat& st, Node* node) {
  node->name = name;
  node->type = TypeOf(st.st_mode);
  node->mode = st.st_mode & 07777;
  node->uid = st.st_uid;
  node->gid = st.st_gid;
  node->user = UserName(st.st_uid);
  node->group = GroupName(st.st_gid);
  node->mtime_ns = Nanos(st.st_mtim);
  node->ctime_ns = Nanos(st.st_ctim);
  node->size = (node->type == NodeType::kFile || node->type == NodeType::kSymlink)
                   ? static_cast<uint64_t>(st.st_size) : 0;
  node->device = st.st_dev;
  node->inode = st.st_ino;
  node->links = st.st_nlink;
  if (node->type == NodeType::kCharDevice || node->type == NodeType::kBlockDevice) {
    node->rdev = st.st_rdev;
  }
}

void ReadXattrs(int fd, std::vector<Xattr>* out) {
  ssize_t len = ::flistxattr(fd, nullptr, 0);
  if (len <= 0) return;
  std::string names(static_cast<size_t>(len), '\0');
  len = ::flistxattr(fd, names.data(), names.size());
  if (len <= 0) return;
  names.resize(static_cast<size_t>(len));
  for (size_t pos = 0; pos < names.size();) {
    const std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    if (name.empty()) continue;
    ssize_t vlen = ::fgetxattr(fd, name.c_str(), nullptr, 0);
    if (vlen < 0) continue;
    std::string value(static_cast<size_t>(vlen), '\0');
    vlen = ::fgetxattr(fd, name.c_str(), value.data(), value.size());
    if (vlen < 0) continue;
    value.resize(static_cast<size_t>(vlen));
    out->push_back({name, std::move(value)});
  }
  std::sort(out->begin(), out->end(),
            [](const Xattr& a, const Xattr& b) { return a.name < b.name; });
}

bool SameFileMetadata(const Node& now, const Node& before) {
  return before.type == NodeType::kFile && now.type == NodeType::kFile &&
         now.size == before.size && now.mtime_ns == before.mtime_ns &&
         now.ctime_ns == before.ctime_ns && now.inode == before.inode &&
         (now.size == 0 || !before.content.empty());
}

}  // namespace jsnap::internal

#include "jsnap/restorer.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "jsnap/file_util.h"
#include "jsnap/sqlite_source.h"
#include "jsnap/thread_pool.h"

namespace jsnap {

namespace {

constexpr size_t kHoleBlock = 4096;

bool AllZero(const char* p, size_t n) {
  static const char kZeros[kHoleBlock] = {};
  while (n >= kHoleBlock) {
    if (std::memcmp(p, kZeros, kHoleBlock) != 0) return false;
    p += kHoleBlock;
    n -= kHoleBlock;
  }
  return std::memcmp(p, kZeros, n) == 0;
}

// Node `i` of the tree `id`; an error names the tree.
Result<Node> NodeAt(const EncodedTree& tree, size_t i, const Id& id) {
  auto node = tree.At(i);
  if (!node.ok()) return node.status().WithContext("tree " + id.Hex());
  return node;
}

struct timespec ToTimespec(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    ts.tv_sec -= 1;
  }
  return ts;
}

// Owner names resolved once per restore: getpwnam_r reads /etc/passwd (and
// may ask nscd) on every call, which for a tree of 80k files was more
// system calls than restoring the files themselves.
class OwnerCache {
 public:
  uid_t Uid(const Node& n) {
    return Cached(uids_, n.user, n.uid, [](const std::string& name, uint32_t* id) {
      struct passwd pw, *res = nullptr;
      char buf[4096];
      if (getpwnam_r(name.c_str(), &pw, buf, sizeof(buf), &res) == 0 && res != nullptr) *id = res->pw_uid;
    });
  }
  gid_t Gid(const Node& n) {
    return Cached(gids_, n.group, n.gid, [](const std::string& name, uint32_t* id) {
      struct group gr, *res = nullptr;
      char buf[4096];
      if (getgrnam_r(name.c_str(), &gr, buf, sizeof(buf), &res) == 0 && res != nullptr) *id = res->gr_gid;
    });
  }

 private:
  // (name, recorded id) -> the id to use: the name's on this system, or
  // the recorded one when the name is unknown here.
  using Map = std::map<std::pair<std::string, uint32_t>, uint32_t>;
  template <typename Lookup>
  uint32_t Cached(Map& map, const std::string& name, uint32_t recorded, Lookup lookup) {
    if (name.empty()) return recorded;
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, added] = map.try_emplace({name, recorded}, recorded);
    if (added) lookup(name, &it->second);
    return it->second;
  }

  std::mutex mu_;
  Map uids_, gids_;
};

// True when the directory holds no entries (a target the restore may fill
// without looking for files in the way).
bool IsEmptyDirectory(int dirfd) {
  const int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return false;
  }
  bool empty = true;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  return empty;
}

// Writes a file's data as runs at offsets, with one pwritev for runs that
// are adjacent: a database restores 4 KiB pages, and a system call per page
// cost more than copying the page. The runs' bytes must stay valid until
// Flush.
class RunWriter {
 public:
  RunWriter(int fd, const std::string& what) : fd_(fd), what_(what) {}

  Status Add(uint64_t offset, std::string_view run) {
    if (run.empty()) return Status::Ok();
    if (!iov_.empty() && (offset != end_ || iov_.size() == kMaxIov)) RETURN_IF_ERROR(Flush());
    if (iov_.empty()) start_ = offset;
    iov_.push_back({const_cast<char*>(run.data()), run.size()});
    end_ = offset + run.size();
    return Status::Ok();
  }

  Status Flush() {
    size_t first = 0;
    uint64_t offset = start_;
    while (first < iov_.size()) {
      const int count = static_cast<int>(iov_.size() - first);
      const ssize_t n = ::pwritev(fd_, iov_.data() + first, count, static_cast<off_t>(offset));
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        const int err = n < 0 ? errno : EIO;  // 0 bytes for a non-empty write: give up
        iov_.clear();
        return Status::FromErrno(err, "write " + what_);
      }
      offset += static_cast<uint64_t>(n);
      for (size_t done = static_cast<size_t>(n); done > 0;) {  // skip what was written
        const size_t step = std::min(done, iov_[first].iov_len);
        iov_[first].iov_base = static_cast<char*>(iov_[first].iov_base) + step;
        iov_[first].iov_len -= step;
        done -= step;
        if (iov_[first].iov_len == 0) ++first;
      }
    }
    iov_.clear();
    if (end_ > written_end_) written_end_ = end_;
    return Status::Ok();
  }

  // Past the last byte written (trailing holes are not).
  uint64_t written_end() const { return written_end_; }

 private:
  static constexpr size_t kMaxIov = 1024;  // IOV_MAX on Linux
  const int fd_;
  const std::string& what_;
  std::vector<struct iovec> iov_;
  uint64_t start_ = 0, end_ = 0, written_end_ = 0;
};

class Restorer;

// One restored directory. Everything written inside it holds a reference;
// when the last one is dropped the directory is complete, and its metadata
// (mode, times, owner) is applied and its descriptor closed. So metadata
// comes after the children (writing them would move mtime; a read-only mode
// would stop them), deepest first, with few descriptors open at a time.
struct DirState {
  Restorer* restorer = nullptr;
  UniqueFd fd;
  std::optional<Node> node;  // none for the target itself
  std::string path;
  std::shared_ptr<DirState> parent;
  // Created empty by this restore: nothing can be in the way of its
  // children (tree names are unique), so they are not looked up first.
  bool fresh = false;
  // The group a file created here is expected to get (the directory's own
  // when it is set-group-ID): a file restored as root whose recorded owner
  // matches may be created with its mode.
  gid_t new_file_gid = 0;
  ~DirState();
};
using DirRef = std::shared_ptr<DirState>;

class Restorer {
 public:
  Restorer(Repository& repo, const RestoreOptions& opts)
      : repo_(repo), opts_(opts),
        blob_pool_(Threads(opts), 2 * Threads(opts)),
        pool_(Threads(opts), 64) {
    // Temporary names need to be unique, not unpredictable (they are
    // created with O_EXCL): one random prefix per restore and a counter.
    uint8_t rnd[6];
    RandomBytes(rnd, sizeof(rnd));
    temp_prefix_ = ".jsnap-tmp-" + HexEncodeBytes(rnd, sizeof(rnd)) + "-";
    euid_ = ::geteuid();
    egid_ = ::getegid();
  }

  Result<RestoreResult> Run(const Snapshot& snap) {
    RETURN_IF_ERROR(MakeDirs(opts_.target, 0755));
    auto root = std::make_shared<DirState>();
    root->restorer = this;
    root->fd.Reset(::open(opts_.target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root->fd.valid()) return Status::FromErrno(errno, "open target " + opts_.target);
    root->fresh = IsEmptyDirectory(root->fd.get());
    NoteNewFileGroup(*root);
    Status st = RestoreTree(root, snap.tree, "", opts_.includes.empty());
    root.reset();
    pool_.Wait();
    if (st.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      st = first_error_;  // a worker's error, not the links it left missing
    }
    if (st.ok()) st = CreateDeferredLinks();
    // Dropping the last directory references applies their metadata.
    deferred_links_.clear();
    hardlinks_.clear();
    RETURN_IF_ERROR(st);
    std::lock_guard<std::mutex> lock(mu_);
    RETURN_IF_ERROR(first_error_);
    return result_;
  }

  void FinishDir(DirState& d) {
    if (!d.node || !d.fd.valid()) return;
    Status st = ApplyMetadata(d.fd.get(), *d.node, d.path);
    if (!st.ok()) RecordError(st);
  }

 private:
  // `selected`: the tree's directory is itself selected by the includes, so
  // everything below is too (unless excluded).
  // The tree's nodes are decoded one at a time: a folder of 300k files holds
  // its tree blob (~100 bytes per node), not 300k Nodes (~450 bytes each).
  Status RestoreTree(const DirRef& dir, const Id& id, const std::string& path, bool selected) {
    ASSIGN_OR_RETURN(EncodedTree tree, repo_.LoadEncodedTree(id));
    for (size_t i = 0; i < tree.size(); ++i) {
      ASSIGN_OR_RETURN(const Node n, NodeAt(tree, i, id));
      if (!IsValidNodeName(n.name)) {
        return Status::Corruption("tree " + id.Hex() + ": refusing unsafe name '" + n.name + "'");
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        RETURN_IF_ERROR(first_error_);  // stop early once a worker failed
      }
      const std::string child = path + "/" + n.name;
      const bool is_dir = n.type == NodeType::kDir;
      if (opts_.excludes.Excluded(child, is_dir)) continue;
      const bool child_selected = selected || opts_.includes.Excluded(child, is_dir);
      if (is_dir) {
        if (child_selected || MayContainIncluded(child)) {
          RETURN_IF_ERROR(RestoreDirectory(dir, n, child, child_selected));
        }
      } else if (child_selected) {
        RETURN_IF_ERROR(RestoreLeaf(dir, n, child));
      }
    }
    return Status::Ok();
  }

  Status RestoreDirectory(const DirRef& parent, const Node& n, const std::string& path,
                          bool selected) {
    bool created = ::mkdirat(parent->fd.get(), n.name.c_str(), 0700) == 0;
    if (!created && errno != EEXIST) {
      return Status::FromErrno(errno, "create directory " + Display(path));
    }
    auto dir = std::make_shared<DirState>();
    dir->fresh = created;
    dir->fd.Reset(::openat(parent->fd.get(), n.name.c_str(),
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir->fd.valid()) {
      return Status::FromErrno(errno, "open directory " + Display(path) +
                                          " (a file or symlink of that name is in the way)");
    }
    NoteNewFileGroup(*dir);
    dir->restorer = this;
    dir->node = n;
    dir->path = path;
    dir->parent = parent;
    {
      std::lock_guard<std::mutex> lock(mu_);
      result_.dirs++;
    }
    return RestoreTree(dir, n.subtree, path, selected);
  }

  // With include patterns, a directory that is not selected is entered only
  // when an include could match below it.
  bool MayContainIncluded(const std::string& path) {
    if (opts_.includes.empty()) return true;
    for (const std::string& p : opts_.includes.Patterns()) {
      if (p.empty() || p[0] != '/' || p.find_first_of("*?[") != std::string::npos) return true;
      if (p.compare(0, path.size(), path) == 0 && p.size() > path.size() && p[path.size()] == '/') {
        return true;
      }
    }
    return false;
  }

  Status RestoreLeaf(const DirRef& dir, const Node& n, const std::string& path) {
    struct stat existing;
    if (!dir->fresh && ::fstatat(dir->fd.get(), n.name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0) {
      if (!opts_.overwrite) {
        return Status::AlreadyExists(Display(path) +
                                     " already exists; use --overwrite to replace it");
      }
      if (S_ISDIR(existing.st_mode)) {
        return Status::AlreadyExists(Display(path) + " is a directory in the target; not replacing it");
      }
      if (n.sqlite && !opts_.force &&
          SqliteInUse("/proc/self/fd/" + std::to_string(dir->fd.get()) + "/" + n.name)) {
        return Status::AlreadyExists("database " + Display(path) +
                                     " is open in another process; stop it first, or use --force");
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (n.type == NodeType::kFile && n.links > 1) {
        const auto key = std::make_pair(n.device, n.inode);
        auto it = hardlinks_.find(key);
        if (it != hardlinks_.end()) {
          deferred_links_.push_back({it->second, {dir, n.name, path}});
          return Status::Ok();
        }
        hardlinks_[key] = {dir, n.name, path};
      }
      result_.files++;
      if (n.type != NodeType::kFile) return RestoreSpecial(dir->fd.get(), n, path);
      result_.bytes += n.size;
    }
    if (opts_.progress) {
      opts_.progress->total_files++;
      opts_.progress->total_bytes += n.size;
    }
    // Not under mu_: Submit blocks while the queue is full, and the workers
    // that would drain it take mu_ to report errors.
    pool_.Submit([this, dir, n, path] {
      Status st = RestoreFile(*dir, n, path);
      if (!st.ok()) RecordError(st);
    });
    return Status::Ok();
  }

  Status CreateDeferredLinks() {
    for (const auto& [first, link] : deferred_links_) {
      const int from = first.dir->fd.get(), to = link.dir->fd.get();
      if (::linkat(from, first.name.c_str(), to, link.name.c_str(), 0) == 0) continue;
      if (errno == EEXIST && opts_.overwrite && ::unlinkat(to, link.name.c_str(), 0) == 0 &&
          ::linkat(from, first.name.c_str(), to, link.name.c_str(), 0) == 0) {
        continue;
      }
      return Status::FromErrno(errno, "hard link " + Display(link.path) + " to " + Display(first.path));
    }
    return Status::Ok();
  }

  void RecordError(const Status& st) {
    std::lock_guard<std::mutex> lock(mu_);
    if (first_error_.ok()) first_error_ = st;
  }

  std::string TempName(const std::string& name) {
    return temp_prefix_ + std::to_string(temp_counter_++) + "-" +
           (name.size() > 200 ? name.substr(0, 200) : name);
  }

  // In a directory this restore created nothing can be replaced, so the
  // file is written under its own name (a rename per file costs as much as
  // writing a small one). Elsewhere it is written under a temporary name and
  // renamed into place when complete, so an existing file is replaced whole
  // or not at all.
  Status RestoreFile(const DirState& dir, const Node& n, const std::string& path) {
    const int dirfd = dir.fd.get();
    const std::string name = dir.fresh ? n.name : TempName(n.name);
    const uid_t uid = opts_.restore_owner ? owners_.Uid(n) : euid_;
    const gid_t gid = opts_.restore_owner ? owners_.Gid(n) : 0;
    UniqueFd fd(::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         CreateWithMode(dir, n, uid, gid) ? n.mode : 0600));
    if (!fd.valid()) return Status::FromErrno(errno, "create " + Display(path));
    Status st = WriteContent(fd.get(), n, path);
    // What the file system made of it (a umask, a default ACL or a grpid
    // mount may differ from the guess): chown and chmod only what differs.
    struct stat made;
    if (st.ok() && ::fstat(fd.get(), &made) != 0) st = Status::FromErrno(errno, "stat " + Display(path));
    if (st.ok()) {
      const bool owner_set =
          !opts_.restore_owner || (made.st_uid == uid && made.st_gid == gid);
      st = ApplyMetadata(fd.get(), n, path, owner_set, (made.st_mode & 07777) == n.mode);
    }
    fd.Reset();
    if (st.ok() && n.sqlite) st = RemoveStaleSqliteFiles(dirfd, n.name, path);
    if (st.ok() && !dir.fresh && ::renameat(dirfd, name.c_str(), dirfd, n.name.c_str()) != 0) {
      st = Status::FromErrno(errno, "rename into place " + Display(path));
    }
    if (!st.ok()) ::unlinkat(dirfd, name.c_str(), 0);
    return st;
  }

  // A file is created with its own mode (saving a chmod) only when no other
  // owner's group could open it meanwhile (the owner it gets at creation is
  // the recorded one), it has no set-ID or sticky bits (chown would clear
  // them; they are set after it), and no xattrs need writing first (that
  // needs write permission, which the mode may not grant). Otherwise 0600
  // until chown and chmod.
  // (`uid`, `gid`: the owner to restore, when restoring owners.)
  bool CreateWithMode(const DirState& dir, const Node& n, uid_t uid, gid_t gid) const {
    if ((n.mode & 07000) != 0 || !n.xattrs.empty()) return false;
    return !opts_.restore_owner || (uid == euid_ && gid == dir.new_file_gid);
  }

  void NoteNewFileGroup(DirState& dir) {
    if (!opts_.restore_owner) return;
    struct stat st;
    if (::fstat(dir.fd.get(), &st) != 0) {
      dir.new_file_gid = static_cast<gid_t>(-1);  // unknown: create with 0600
      return;
    }
    dir.new_file_gid = (st.st_mode & S_ISGID) ? st.st_gid : egid_;
  }

  // A -wal or -journal left beside a database belongs to the file it
  // replaces; SQLite would apply it to the restored one and corrupt it.
  Status RemoveStaleSqliteFiles(int dirfd, const std::string& name, const std::string& path) {
    for (const char* suffix : {"-wal", "-shm", "-journal"}) {
      const std::string companion = name + suffix;
      if (::unlinkat(dirfd, companion.c_str(), 0) != 0 && errno != ENOENT) {
        return Status::FromErrno(errno, "remove stale " + Display(path) + suffix);
      }
    }
    return Status::Ok();
  }

  // A file's chunks are decoded (index lookup, read, decrypt, decompress,
  // verify) on the blob workers, a batch per task and several batches
  // ahead, while this thread writes them in order: one large file (a
  // database of 100k pages) uses every core, in bounded memory.
  using Batch = std::vector<std::string>;
  static constexpr size_t kBatchBytes = 1 << 20;

  Status WriteContent(int fd, const Node& n, const std::string& path) {
    const size_t count = n.content.size();
    const uint64_t average = count == 0 ? 0 : n.size / count;
    const size_t per_batch = std::clamp<size_t>(average == 0 ? 64 : kBatchBytes / average, 1, 64);
    const size_t max_ahead = 2 * Threads(opts_);
    auto load = [this, &n](size_t begin, size_t end) -> Result<Batch> {
      return repo_.LoadBlobs(std::span<const Id>(n.content).subspan(begin, end - begin));
    };
    std::deque<std::future<Result<Batch>>> ahead;
    size_t next = 0;
    auto submit = [&] {
      const size_t begin = next, end = std::min(count, next + per_batch);
      next = end;
      batches_in_flight_++;
      auto task = std::make_shared<std::packaged_task<Result<Batch>()>>([load, begin, end] { return load(begin, end); });
      ahead.push_back(task->get_future());
      blob_pool_.Submit([task] { (*task)(); });
    };
    uint64_t offset = 0;
    const std::string what = Display(path);
    RunWriter writer(fd, what);
    Status st;
    while (st.ok() && (next < count || !ahead.empty())) {
      Result<Batch> batch = Batch();
      if (count <= per_batch) {  // one batch (most files): no hand-off
        batch = load(0, count);
        next = count;
      } else {
        // Every file keeps one batch coming; beyond that, all files share
        // 4T batches (~4T MiB), however many restore at once.
        while (next < count && ahead.size() < max_ahead &&
               (ahead.empty() || batches_in_flight_ < 2 * max_ahead)) {
          submit();
        }
        batch = ahead.front().get();
        ahead.pop_front();
        batches_in_flight_--;
      }
      if (!batch.ok()) {
        st = batch.status().WithContext("restore " + Display(path));
        break;
      }
      for (const std::string& data : batch.value()) {
        st = WriteSparse(writer, offset, data);
        if (!st.ok()) break;
        offset += data.size();
        if (opts_.progress) opts_.progress->bytes += data.size();
      }
      if (st.ok()) st = writer.Flush();  // before the batch's buffers go
    }
    for (auto& f : ahead) f.wait();  // the tasks read `n`: let them finish
    batches_in_flight_ -= ahead.size();
    RETURN_IF_ERROR(st);
    if (offset != n.size) {
      return Status::Corruption("restore " + Display(path) + ": chunks hold " +
                                std::to_string(offset) + " bytes, the snapshot says " +
                                std::to_string(n.size));
    }
    // The file was created empty; only a trailing hole leaves it short.
    if (writer.written_end() != offset && ::ftruncate(fd, static_cast<off_t>(offset)) != 0) {
      return Status::FromErrno(errno, "truncate " + Display(path));
    }
    if (opts_.progress) opts_.progress->files++;
    return Status::Ok();
  }

  // Hands the non-zero runs of `d` (at `offset`) to the writer, leaving
  // all-zero 4 KiB blocks as holes so sparse files stay sparse (a final
  // ftruncate sets the size after a trailing hole).
  static Status WriteSparse(RunWriter& writer, uint64_t offset, const std::string& d) {
    size_t pos = 0;
    while (pos < d.size()) {
      size_t len = std::min(kHoleBlock, d.size() - pos);
      if (AllZero(d.data() + pos, len)) {
        pos += len;
        continue;
      }
      size_t end = pos + len;
      while (end < d.size()) {
        size_t next = std::min(kHoleBlock, d.size() - end);
        if (AllZero(d.data() + end, next)) break;
        end += next;
      }
      RETURN_IF_ERROR(writer.Add(offset + pos, std::string_view(d.data() + pos, end - pos)));
      pos = end;
    }
    return Status::Ok();
  }

  // Mode, owner, xattrs and times of an open file or directory; owner and
  // mode only where the file was not created with them.
  Status ApplyMetadata(int fd, const Node& n, const std::string& path, bool owner_set = false,
                       bool mode_set = false) {
    if (opts_.restore_owner && !owner_set && ::fchown(fd, owners_.Uid(n), owners_.Gid(n)) != 0) {
      Warn("cannot set owner of " + Display(path) + ": " + std::strerror(errno));
    }
    for (const Xattr& x : n.xattrs) {
      if (::fsetxattr(fd, x.name.c_str(), x.value.data(), x.value.size(), 0) != 0) {
        Warn("cannot set xattr " + x.name + " on " + Display(path) + ": " + std::strerror(errno));
      }
    }
    if (!mode_set && ::fchmod(fd, n.mode) != 0) return Status::FromErrno(errno, "chmod " + Display(path));
    struct timespec times[2] = {ToTimespec(n.mtime_ns), ToTimespec(n.mtime_ns)};
    if (::futimens(fd, times) != 0) return Status::FromErrno(errno, "set times of " + Display(path));
    return Status::Ok();
  }

  // Symlinks, fifos and device nodes: created under a temporary name, then
  // renamed, like files. Caller holds mu_.
  Status RestoreSpecial(int dirfd, const Node& n, const std::string& path) {
    const std::string tmp = TempName(n.name);
    int rc = 0;
    switch (n.type) {
      case NodeType::kSymlink: rc = ::symlinkat(n.link_target.c_str(), dirfd, tmp.c_str()); break;
      case NodeType::kFifo: rc = ::mkfifoat(dirfd, tmp.c_str(), n.mode); break;
      case NodeType::kSocket:
        return Status::Ok();  // a socket is meaningless without its server; like tar, skip it
      case NodeType::kCharDevice:
      case NodeType::kBlockDevice:
        rc = ::mknodat(dirfd, tmp.c_str(),
                       (n.type == NodeType::kCharDevice ? S_IFCHR : S_IFBLK) | n.mode,
                       static_cast<dev_t>(n.rdev));
        break;
      default: return Status::Ok();
    }
    if (rc != 0) {
      WarnLocked("cannot create " + std::string(NodeTypeName(n.type)) + " " + Display(path) + ": " +
                 std::strerror(errno));
      return Status::Ok();
    }
    if (opts_.restore_owner) {
      (void)::fchownat(dirfd, tmp.c_str(), owners_.Uid(n), owners_.Gid(n), AT_SYMLINK_NOFOLLOW);
    }
    if (n.type != NodeType::kSymlink) (void)::fchmodat(dirfd, tmp.c_str(), n.mode, 0);
    struct timespec times[2] = {ToTimespec(n.mtime_ns), ToTimespec(n.mtime_ns)};
    (void)::utimensat(dirfd, tmp.c_str(), times, AT_SYMLINK_NOFOLLOW);
    if (::renameat(dirfd, tmp.c_str(), dirfd, n.name.c_str()) != 0) {
      int err = errno;
      ::unlinkat(dirfd, tmp.c_str(), 0);
      return Status::FromErrno(err, "rename into place " + Display(path));
    }
    return Status::Ok();
  }

  void Warn(const std::string& msg) {
    std::lock_guard<std::mutex> lock(mu_);
    WarnLocked(msg);
  }
  void WarnLocked(const std::string& msg) {
    result_.errors++;
    if (opts_.warn) opts_.warn(msg);
  }

  std::string Display(const std::string& path) const { return opts_.target + path; }

  struct LinkEnd {
    DirRef dir;
    std::string name;
    std::string path;
  };

  Repository& repo_;
  const RestoreOptions& opts_;
  std::mutex mu_;  // guards the members below
  Status first_error_;
  RestoreResult result_;
  std::map<std::pair<uint64_t, uint64_t>, LinkEnd> hardlinks_;
  std::vector<std::pair<LinkEnd, LinkEnd>> deferred_links_;
  std::atomic<size_t> batches_in_flight_{0};  // decoded or queued, all files
  OwnerCache owners_;
  std::string temp_prefix_;
  uid_t euid_ = 0;
  gid_t egid_ = 0;
  std::atomic<uint64_t> temp_counter_{0};
  static size_t Threads(const RestoreOptions& o) { return ThreadPool::ThreadCount(o.threads); }

  // Last: joined first, while the members above still exist. File tasks on
  // pool_ wait for blob tasks, never the other way round.
  ThreadPool blob_pool_;
  ThreadPool pool_;
};

DirState::~DirState() {
  if (restorer != nullptr) restorer->FinishDir(*this);
}

}  // namespace

Result<RestoreResult> RestoreSnapshot(Repository& repo, const Snapshot& snapshot,
                                      const RestoreOptions& opts) {
  // A file's chunks mostly sit together in a few packs: their headers
  // answer most lookups (a database of 96k pages: 96k index lookups, ~15 %
  // of the CPU, become a few header reads). 64k blobs: ~3 MB, a dozen
  // packs of the kernel tree's.
  repo.UsePackDirectory(64 << 10);
  Restorer r(repo, opts);
  return r.Run(snapshot);
}

Status WalkTree(Repository& repo, const Id& tree_id, const std::string& prefix,
                const std::function<Result<bool>(const std::string&, const Node&)>& fn) {
  ASSIGN_OR_RETURN(EncodedTree tree, repo.LoadEncodedTree(tree_id));
  for (size_t i = 0; i < tree.size(); ++i) {
    ASSIGN_OR_RETURN(const Node n, NodeAt(tree, i, tree_id));
    const std::string path = prefix + "/" + n.name;
    ASSIGN_OR_RETURN(bool descend, fn(path, n));
    if (descend && n.type == NodeType::kDir) RETURN_IF_ERROR(WalkTree(repo, n.subtree, path, fn));
  }
  return Status::Ok();
}

}  // namespace jsnap

namespace jsnap {

Result<Node> FindNode(Repository& repo, const Id& root_tree, const std::string& path) {
  Node node;
  node.type = NodeType::kDir;
  node.subtree = root_tree;
  node.mode = 0755;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    const std::string name = path.substr(pos, slash - pos);
    pos = slash + 1;
    if (name.empty() || name == ".") continue;
    if (node.type != NodeType::kDir) return Status::NotFound(path + " is not in the snapshot");
    ASSIGN_OR_RETURN(EncodedTree tree, repo.LoadEncodedTree(node.subtree));
    auto child = tree.Find(name);
    if (!child.ok()) return child.status().WithContext("tree " + node.subtree.Hex());
    if (!*child) return Status::NotFound(path + " is not in the snapshot");
    node = std::move(**child);
  }
  return node;
}

}  // namespace jsnap

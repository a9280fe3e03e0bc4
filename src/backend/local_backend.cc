#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <list>
#include <memory>
#include <mutex>

#include "jsnap/backend.h"
#include "jsnap/file_util.h"

namespace jsnap {

std::string FileHandle::ToString() const {
  switch (type) {
    case FileType::kConfig: return "config";
    case FileType::kKey: return "key " + name;
    case FileType::kSnapshot: return "snapshot " + name;
    case FileType::kPack: return "pack " + name;
  }
  return name;
}

namespace {

const char* TypeDir(FileType t) {
  switch (t) {
    case FileType::kConfig: return "";
    case FileType::kKey: return "keys";
    case FileType::kSnapshot: return "snapshots";
    case FileType::kPack: return "data";
  }
  return "";
}

// A temp file in the type's directory, renamed into place at Commit.
class LocalUpload : public BackendUpload {
 public:
  LocalUpload(std::string tmp, UniqueFd fd, std::function<std::string(const FileHandle&)> path_of)
      : tmp_(std::move(tmp)), fd_(std::move(fd)), path_of_(std::move(path_of)) {}
  ~LocalUpload() override {
    if (!committed_) ::unlink(tmp_.c_str());
  }

  Status WriteAt(uint64_t offset, std::string_view data) override {
    return jsnap::WriteAt(fd_.get(), data, offset, tmp_);
  }

  Status Commit(const FileHandle& h) override {
    const std::string path = path_of_(h);
    if (::fsync(fd_.get()) != 0) return Status::FromErrno(errno, "fsync " + tmp_);
    fd_.Reset();
    if (h.type == FileType::kPack) RETURN_IF_ERROR(MakeDirs(DirName(path)));
    if (::rename(tmp_.c_str(), path.c_str()) != 0) {
      return Status::FromErrno(errno, "rename " + tmp_ + " to " + path);
    }
    committed_ = true;
    return FsyncDir(DirName(path));
  }

 private:
  std::string tmp_;
  UniqueFd fd_;
  std::function<std::string(const FileHandle&)> path_of_;
  bool committed_ = false;
};

class LocalBackend : public Backend {
 public:
  explicit LocalBackend(std::string root) : root_(std::move(root)) {}

  // The temp file sits in the type's directory (data/ for packs, whose
  // subdirectory depends on the name), on the same file system as its
  // final place; listings skip its ".tmp-" name.
  Result<std::unique_ptr<BackendUpload>> StartUpload(FileType type) override {
    const std::string tmp = NewTempPath(JoinPath(root_, TypeDir(type)));
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400 | 0200));
    if (!fd.valid()) return Status::FromErrno(errno, "create " + tmp);
    return std::unique_ptr<BackendUpload>(std::make_unique<LocalUpload>(
        tmp, std::move(fd), [this](const FileHandle& h) { return PathOf(h); }));
  }

  Result<size_t> RemoveInterruptedUploads() override {
    size_t removed = 0;
    for (FileType type : {FileType::kPack, FileType::kSnapshot, FileType::kKey}) {
      ASSIGN_OR_RETURN(size_t n, RemoveTempFiles(JoinPath(root_, TypeDir(type))));
      removed += n;
    }
    return removed;
  }

  Status Save(const FileHandle& h, std::string_view data) override {
    const std::string path = PathOf(h);
    if (h.type == FileType::kPack) RETURN_IF_ERROR(MakeDirs(DirName(path)));
    return WriteFileAtomic(path, data, 0400 | 0200).WithContext("save " + h.ToString());
  }

  Result<std::string> Load(const FileHandle& h, uint64_t offset, uint64_t length) override {
    std::string out;
    RETURN_IF_ERROR(LoadRange(h, offset, length, &out));
    return out;
  }

  Status LoadInto(const FileHandle& h, uint64_t offset, uint64_t length, std::string* out) override {
    return LoadRange(h, offset, length, out);
  }

  Status LoadRange(const FileHandle& h, uint64_t offset, uint64_t length, std::string* out) {
    const std::string path = PathOf(h);
    std::shared_ptr<UniqueFd> fd;
    if (h.type == FileType::kPack) {
      ASSIGN_OR_RETURN(fd, OpenPack(path, h));
    } else {
      fd = std::make_shared<UniqueFd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd->valid()) return Status::FromErrno(errno, "open " + h.ToString() + " (" + path + ")");
    }
    if (length == 0) {
      struct stat st;
      if (::fstat(fd->get(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
      if (static_cast<uint64_t>(st.st_size) < offset) {
        return Status::Corruption(h.ToString() + ": file is truncated");
      }
      length = static_cast<uint64_t>(st.st_size) - offset;
    }
    return ReadAtInto(fd->get(), offset, length, h.ToString(), out);
  }

  // Its own descriptor: the cache of open packs serves the reads.
  void Prefetch(const FileHandle& h) override {
    UniqueFd fd(::open(PathOf(h).c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.valid()) (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_WILLNEED);
  }

  Result<uint64_t> Size(const FileHandle& h) override {
    struct stat st;
    if (::stat(PathOf(h).c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + h.ToString());
    return static_cast<uint64_t>(st.st_size);
  }

  Status List(FileType type,
              const std::function<void(const std::string&, uint64_t)>& fn) override {
    const std::string dir = JoinPath(root_, TypeDir(type));
    if (type == FileType::kPack) {
      for (int i = 0; i < 256; ++i) {
        char sub[3];
        std::snprintf(sub, sizeof(sub), "%02x", i);
        // A file in the wrong data/<hh> directory is not part of the repository.
        RETURN_IF_ERROR(ListDir(JoinPath(dir, sub), [&](const std::string& name, uint64_t size) {
          if (name.compare(0, 2, sub) == 0) fn(name, size);
        }));
      }
      return Status::Ok();
    }
    return ListDir(dir, fn);
  }

  Status Remove(const FileHandle& h) override {
    const std::string path = PathOf(h);
    {
      std::lock_guard<std::mutex> lock(fd_mu_);
      open_packs_.remove_if([&](const auto& e) { return e.first == path; });
    }
    if (::unlink(path.c_str()) != 0) return Status::FromErrno(errno, "remove " + h.ToString());
    return FsyncDir(DirName(path));
  }

  std::string Location() const override { return root_; }

 private:
  std::string PathOf(const FileHandle& h) const {
    switch (h.type) {
      case FileType::kConfig: return JoinPath(root_, "config");
      case FileType::kPack: return JoinPath(root_, "data/" + h.name.substr(0, 2) + "/" + h.name);
      default: return JoinPath(JoinPath(root_, TypeDir(h.type)), h.name);
    }
  }

  // Temp files (".tmp-*") of interrupted saves are skipped: they are not
  // part of the repository.
  static Status ListDir(const std::string& dir,
                        const std::function<void(const std::string&, uint64_t)>& fn) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) return Status::Ok();
      return Status::FromErrno(errno, "list " + dir);
    }
    while (struct dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.empty() || name[0] == '.') continue;
      struct stat st;
      if (::fstatat(::dirfd(d), e->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode)) continue;
      fn(name, static_cast<uint64_t>(st.st_size));
    }
    ::closedir(d);
    return Status::Ok();
  }

  // Restore and check read many blobs from the same packs: the most
  // recently used packs stay open (packs never change once written).
  Result<std::shared_ptr<UniqueFd>> OpenPack(const std::string& path, const FileHandle& h) {
    std::lock_guard<std::mutex> lock(fd_mu_);
    for (auto it = open_packs_.begin(); it != open_packs_.end(); ++it) {
      if (it->first == path) {
        open_packs_.splice(open_packs_.begin(), open_packs_, it);
        return open_packs_.front().second;
      }
    }
    auto fd = std::make_shared<UniqueFd>(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd->valid()) return Status::FromErrno(errno, "open " + h.ToString() + " (" + path + ")");
    open_packs_.emplace_front(path, fd);
    if (open_packs_.size() > kOpenPacks) open_packs_.pop_back();
    return fd;
  }

  static constexpr size_t kOpenPacks = 32;
  std::string root_;
  std::mutex fd_mu_;
  std::list<std::pair<std::string, std::shared_ptr<UniqueFd>>> open_packs_;
};

}  // namespace

std::unique_ptr<Backend> NewLocalBackend(const std::string& root) {
  return std::make_unique<LocalBackend>(root);
}

Status CreateLocalLayout(const std::string& root) {
  RETURN_IF_ERROR(MakeDirs(root));
  for (const char* sub : {"keys", "snapshots", "data", "locks"}) {
    RETURN_IF_ERROR(MakeDirs(JoinPath(root, sub)));
  }
  for (int i = 0; i < 256; ++i) {
    char sub[3];
    std::snprintf(sub, sizeof(sub), "%02x", i);
    RETURN_IF_ERROR(MakeDirs(JoinPath(root, std::string("data/") + sub)));
  }
  RETURN_IF_ERROR(FsyncDir(JoinPath(root, "data")));
  return FsyncDir(root);
}

}  // namespace jsnap

#include "source_scan.h"

#include <fcntl.h>
#include <sys/resource.h>

#include <algorithm>
#include <system_error>

#include "source_tree.h"

namespace jsnap {

SourceScan::Limits SourceScan::DefaultLimits() {
  Limits l;
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    // A quarter of the descriptors: the walk's own, the workers' and the
    // repository's (RocksDB keeps up to 256 tables open) need the rest.
    l.max_listings = std::clamp<size_t>(static_cast<size_t>(rl.rlim_cur) / 4, 16, l.max_listings);
  }
  return l;
}

SourceScan::SourceScan(const ArchiveOptions& opts, const std::string& repo_root, Limits limits)
    : rules_(opts, repo_root), limits_(limits) {
  // Sources that do not make a valid tree are refused by the create: no roots.
  auto sources = internal::BuildSourceTree(opts);
  std::vector<std::string> roots = sources.ok() ? internal::WholePaths(sources.value()) : std::vector<std::string>();
  thread_ = std::thread([this, roots = std::move(roots)]() mutable { Run(std::move(roots)); });
}

SourceScan::~SourceScan() {
  Abandon();
  thread_.join();
}

void SourceScan::Abandon() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = true;
  cancel_ = true;
  queue_.clear();
  queued_entries_ = 0;
  changed_.notify_all();
}

void SourceScan::Run(std::vector<std::string> roots) {
  for (const std::string& root : roots) {
    if (root == "/") {  // the root tree is its listing
      struct stat st;
      if (::lstat("/", &st) == 0) Walk(AT_FDCWD, "/", "/", st.st_dev);
      break;
    }
    // The archiver stats a source root in its parent, without following a
    // symlink, and lists it when it is a directory.
    const size_t slash = root.rfind('/');
    const std::string parent = slash == 0 ? "/" : root.substr(0, slash);
    const std::string name = root.substr(slash + 1);
    UniqueFd dir(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct stat st;
    if (!dir.valid() || ::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISDIR(st.st_mode) || !rules_.ListsContents(st, st.st_dev)) continue;
    if (!Walk(dir.get(), name, root, st.st_dev)) break;
  }
  std::lock_guard<std::mutex> lock(mu_);
  finished_ = true;
  changed_.notify_all();
}

bool SourceScan::Walk(int parent_fd, const std::string& name, const std::string& path, dev_t root_dev) {
  internal::DirectoryListing listing = internal::ListDirectory(parent_fd, name, path, &cancel_);
  // What to descend into, taken before the listing is handed over.
  const std::shared_ptr<UniqueFd> fd = listing.fd;
  auto child = [&](const std::string& n) { return path == "/" ? "/" + n : path + "/" + n; };
  std::vector<std::string> subdirs;
  for (const internal::ListedEntry& e : listing.entries) {
    if (e.stat_errno == 0 && rules_.Descends(child(e.name), e.st, root_dev)) subdirs.push_back(e.name);
  }
  if (!Push(std::move(listing))) return false;
  for (const std::string& sub : subdirs) {
    if (!Walk(fd->get(), sub, child(sub), root_dev)) return false;
  }
  return true;
}

bool SourceScan::Push(internal::DirectoryListing listing) {
  std::unique_lock<std::mutex> lock(mu_);
  // An empty queue takes any listing, however large.
  auto room = [&] {
    return stop_ || queue_.empty() ||
           (queue_.size() < limits_.max_listings && queued_entries_ < limits_.max_entries);
  };
  if (!room()) {
    waiting_for_room_ = true;
    changed_.notify_all();
    changed_.wait(lock, room);
    waiting_for_room_ = false;
  }
  if (stop_) return false;
  queued_entries_ += listing.entries.size();
  queue_.push_back(std::move(listing));
  changed_.notify_all();
  return true;
}

std::optional<internal::DirectoryListing> SourceScan::Take(const std::string& path) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return stop_ || finished_ || !queue_.empty(); });
  if (stop_ || queue_.empty()) return std::nullopt;
  if (queue_.front().path != path) {
    // The walk went elsewhere (a source root changed between the two
    // looks): what is queued is of no use to it.
    diverged_ = true;
    lock.unlock();
    Abandon();
    return std::nullopt;
  }
  internal::DirectoryListing l = std::move(queue_.front());
  queue_.pop_front();
  queued_entries_ -= l.entries.size();
  ++taken_;
  changed_.notify_all();
  return l;
}

void SourceScan::WaitUntilIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return stop_ || finished_ || waiting_for_room_; });
}

size_t SourceScan::listings_taken() const {
  std::lock_guard<std::mutex> lock(mu_);
  return taken_;
}

bool SourceScan::diverged() const {
  std::lock_guard<std::mutex> lock(mu_);
  return diverged_;
}

std::shared_ptr<SourceScan> StartSourceScan(const ArchiveOptions& opts, const std::string& repo_root) {
  try {
    return std::make_shared<SourceScan>(opts, repo_root, SourceScan::DefaultLimits());
  } catch (const std::system_error&) {  // no thread to be had: the walk lists for itself
    return nullptr;
  }
}

}  // namespace jsnap

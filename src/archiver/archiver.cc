#include "jsnap/archiver.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <condition_variable>
#include <mutex>
#include <cerrno>
#include <cstring>
#include <future>
#include <memory>
#include <optional>
#include <utility>

#include "jsnap/file_util.h"
#include "jsnap/node_reader.h"
#include "jsnap/sqlite_source.h"
#include "jsnap/thread_pool.h"
#include "listing.h"
#include "node_info.h"
#include "source_file.h"
#include "source_scan.h"
#include "source_tree.h"
#include "jsnap/system.h"

namespace jsnap {
namespace {

using internal::DirectoryListing;
using internal::FillNodeFromStat;
using internal::ListedEntry;
using internal::SourceTree;
using internal::StreamPath;

// A node as its tree will hold it, kept encoded until the tree is stored:
// a directory of 300k entries held ~1.6 KB per entry as Nodes and their
// futures (734 MB for the create), against ~100 bytes of record.
struct EncodedNode {
  std::string name;
  std::string record;  // EncodeTreeRecord
};
EncodedNode Encoded(const Node& node) { return {node.name, EncodeTreeRecord(node)}; }

// Empty optional: the source could not be read and is left out.
using NodeResult = Result<std::optional<EncodedNode>>;
NodeResult Encoded(Result<std::optional<Node>> node) {
  if (!node.ok()) return node.status();
  if (!node.value()) return std::optional<EncodedNode>();
  return std::optional<EncodedNode>(Encoded(*node.value()));
}

// A node that may still be computed by a worker.
struct Slot {
  std::optional<EncodedNode> ready;
  std::future<NodeResult> pending;
};

// A directory whose entries are submitted; its tree is stored once they are
// done, while the walk goes on (Archiver::CloseDirectories).
struct OpenDirectory {
  Node node;  // the directory's own node; subtree set when closed
  std::optional<Id> parent_subtree;  // its tree in the parent snapshot
  std::vector<Slot> slots;
  size_t done = 0;  // slots[0, done) are known to be resolved
  std::promise<NodeResult> result;
};

class Archiver {
 public:
  Archiver(Repository& repo, const ArchiveOptions& opts, SourceScan* scan)
      : repo_(repo), opts_(opts), rules_(opts, repo.root()), scan_(scan),
        chunk_pool_(Threads(opts), 2 * Threads(opts)),
        pool_(Threads(opts), 64) {}

  Result<ArchiveResult> Run() {
    ASSIGN_OR_RETURN(const SourceTree sources, internal::BuildSourceTree(opts_));
    // Listings taken long before the walk (a password typed slowly, a
    // --wait-lock) would show a tree that has moved on: files deleted since
    // would be reported unreadable.
    if (scan_ != nullptr && scan_->age() > kMaxScanAge) {
      scan_->Abandon();
      scan_ = nullptr;
    }
    ArchiveResult result;
    Snapshot& snap = result.snapshot;
    snap.time_ns = opts_.time_ns;
    snap.hostname = opts_.hostname;
    snap.username = CurrentUser();
    snap.uid = ::geteuid();
    snap.gid = ::getegid();
    snap.tags = opts_.tags;
    snap.paths = opts_.paths;
    for (const StreamSource& s : opts_.streams) snap.paths.push_back(StreamPath(s));
    for (const std::string& db : opts_.sqlite_paths) snap.paths.push_back(db);
    std::sort(snap.paths.begin(), snap.paths.end());
    snap.excludes = opts_.excludes.Patterns();
    snap.program_version = kProgramVersion;

    // The parent's trees are read one by one as the walk meets them, and
    // were stored together: their packs' headers locate them, not one
    // index lookup each (bounded: 48 bytes a blob).
    repo_.UsePackDirectory(kParentTreeDirectory);
    std::optional<EncodedTree> parent_root;
    ASSIGN_OR_RETURN(std::vector<SnapshotEntry> all, repo_.ListSnapshots());
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (it->snapshot.hostname == snap.hostname && it->snapshot.paths == snap.paths) {
        snap.parent = it->id;
        result.has_parent = true;
        parent_root = LoadParentTree(it->snapshot.tree, "/");
        break;
      }
    }

    const EncodedTree* parent = parent_root ? &*parent_root : nullptr;
    Result<Id> root = sources.whole ? ArchiveWholeRoot(parent) : ArchiveSourceTree(sources, "", parent);
    pool_.Wait();
    chunk_pool_.Wait();
    RETURN_IF_ERROR(root.status());
    if (!opts_.dry_run) RETURN_IF_ERROR(repo_.Flush());
    if (opts_.verify_sqlite && !opts_.dry_run) RETURN_IF_ERROR(VerifySqliteImages());
    snap.tree = root.value();
    snap.stats = stats_.Snapshot();
    result.parent_unreadable = parent_unreadable_;
    if (!opts_.dry_run) {
      ASSIGN_OR_RETURN(result.snapshot_id, repo_.SaveSnapshot(snap));
    }
    return result;
  }

 private:
  // Thread-safe counters; copied into the snapshot at the end.
  struct Stats {
    std::atomic<uint64_t> files_new{0}, files_changed{0}, files_unmodified{0}, dirs{0},
        other_nodes{0}, total_bytes{0}, bytes_read{0}, data_blobs_added{0},
        tree_blobs_added{0}, bytes_added{0}, bytes_added_stored{0}, errors{0};
    SnapshotStats Snapshot() const {
      return {files_new, files_changed, files_unmodified, dirs, other_nodes, total_bytes,
              bytes_read, data_blobs_added, tree_blobs_added, bytes_added, bytes_added_stored,
              errors};
    }
  };

  void Warn(const std::string& msg) {
    stats_.errors++;
    if (opts_.progress) opts_.progress->errors++;
    if (opts_.warn) opts_.warn(msg);
  }

  // Stores (or, in a dry run, looks up) one blob and counts it.
  Status Store(BlobType type, std::string_view data, Id* id) {
    *id = repo_.BlobId(data);
    return StoreWithId(type, data, *id);
  }

  Status StoreWithId(BlobType type, std::string_view data, const Id& id,
                     CompressionProfile profile = CompressionProfile::kDefault) {
    bool added = false;
    uint64_t stored = 0;
    if (opts_.dry_run) {
      ASSIGN_OR_RETURN(bool has, repo_.HasBlob(id));
      added = !has;
    } else {
      RETURN_IF_ERROR(repo_.SaveBlobWithId(type, id, data, &added, &stored, profile));
    }
    if (!added) return Status::Ok();
    (type == BlobType::kTree ? stats_.tree_blobs_added : stats_.data_blobs_added)++;
    stats_.bytes_added += data.size();
    stats_.bytes_added_stored += stored;
    if (opts_.progress) opts_.progress->bytes_added += data.size();
    return Status::Ok();
  }

  // `encoded`: a tree blob (CollectTree). `parent`: the directory's tree in
  // the parent snapshot, which exists (see AllBlobsPresent): the same tree
  // is not looked up again.
  Result<Id> StoreTree(const std::string& encoded, const std::optional<Id>& parent = std::nullopt) {
    const Id id = repo_.BlobId(encoded);
    if (parent == id && !repo_.packs_lost()) return id;
    RETURN_IF_ERROR(StoreWithId(BlobType::kTree, encoded, id));
    return id;
  }

  static constexpr size_t kPagesPerTask = 16;
  static constexpr size_t kParentTreeDirectory = 16 << 10;
  static constexpr std::chrono::seconds kMaxScanAge{5};
  static size_t Threads(const ArchiveOptions& o) { return ThreadPool::ThreadCount(o.threads); }

  // The chunks of one file, stored by the chunk workers in any order; each
  // id lands at its chunk's index.
  struct PendingChunks {
    std::mutex mu;
    std::condition_variable done;
    size_t outstanding = 0;
    std::vector<Id> ids;
    Status error;
  };

  // Stores a batch of chunks (index, bytes) on a chunk worker. Small chunks
  // (database pages) go in batches so that task overhead stays small.
  using ChunkBatch = std::vector<std::pair<uint64_t, std::string>>;
  // `known`: the parent's chunk ids by index (a database's pages): a chunk
  // whose id equals the parent's at its index exists already, and skips the
  // index lookup and the rest of the store. (Hashing every page costs less
  // than keeping a cheaper keyed fingerprint per page in each snapshot: with
  // the SHA extensions, 0.07 s of CPU per 393 MB and no wall time, against
  // 1.5 MB more per snapshot of a 96k-page database; measured.)
  // `profile`: kPage for a database's pages.
  Status SubmitChunks(const std::shared_ptr<PendingChunks>& p, ChunkBatch batch,
                      const std::vector<Id>* known = nullptr,
                      CompressionProfile profile = CompressionProfile::kDefault) {
    if (batch.empty()) return Status::Ok();
    {
      std::lock_guard<std::mutex> lock(p->mu);
      RETURN_IF_ERROR(p->error);
      for (const auto& [index, data] : batch) {
        if (p->ids.size() <= index) p->ids.resize(index + 1);
      }
      ++p->outstanding;
    }
    // Blocks while the chunk queue is full: that bounds the memory in flight.
    chunk_pool_.Submit([this, p, known, profile, batch = std::move(batch)] {
      // The ids first, two chunks hashed side by side (~1.5x faster with
      // the SHA extensions than one after the other).
      std::vector<std::string_view> chunks;
      chunks.reserve(batch.size());
      for (const auto& [index, data] : batch) chunks.emplace_back(data);
      std::vector<Id> ids(batch.size());
      repo_.BlobIds(chunks.data(), chunks.size(), ids.data());
      Status st;
      for (size_t i = 0; i < batch.size() && st.ok(); ++i) {
        const uint64_t index = batch[i].first;
        if (known != nullptr && index < known->size() && ids[i] == (*known)[index]) continue;
        st = StoreWithId(BlobType::kData, batch[i].second, ids[i], profile);
      }
      std::lock_guard<std::mutex> lock(p->mu);
      if (st.ok()) {
        for (size_t i = 0; i < batch.size(); ++i) p->ids[batch[i].first] = ids[i];
      } else if (p->error.ok()) {
        p->error = st;
      }
      if (--p->outstanding == 0) p->done.notify_all();
    });
    return Status::Ok();
  }

  static Result<std::vector<Id>> WaitChunks(const std::shared_ptr<PendingChunks>& p) {
    std::unique_lock<std::mutex> lock(p->mu);
    p->done.wait(lock, [&] { return p->outstanding == 0; });
    RETURN_IF_ERROR(p->error);
    return std::move(p->ids);
  }

  // Splits what `read` yields into chunks and stores them: a file of one
  // chunk on this thread, longer ones on the chunk workers, so one large
  // file keeps every core busy.
  Status ChunkStream(const std::function<Result<size_t>(char*, size_t)>& read, Node* node) {
    const Chunker& chunker = repo_.chunker();
    const size_t max = chunker.params().max_size;
    thread_local std::string buf;
    if (buf.size() < 2 * max) buf.resize(2 * max);
    size_t start = 0, end = 0;
    bool eof = false;
    uint64_t total = 0, index = 0;
    std::shared_ptr<PendingChunks> pending;
    // The length of the chunk at `start`, or 0 when the buffer must be refilled first.
    auto next_cut = [&] {
      return start == end ? 0 : chunker.FindCut(reinterpret_cast<const uint8_t*>(buf.data() + start), end - start, eof);
    };
    for (;;) {
      // Chunks are cut from what the buffer holds until the chunker needs
      // more (no cut in the rest, which is shorter than a chunk can be): only
      // that rest, about half a chunk, moves to the front before the next
      // read. Refilling whenever less than a maximal chunk was left moved
      // ~4 MiB per 4 MiB read: a second copy of every byte.
      const size_t cut = next_cut();
      if (cut == 0) {
        if (eof) break;
        std::memmove(buf.data(), buf.data() + start, end - start);
        end -= start;
        start = 0;
        while (!eof && end < buf.size()) {
          ASSIGN_OR_RETURN(size_t n, read(buf.data() + end, buf.size() - end));
          if (n == 0) eof = true;
          end += n;
          total += n;
          stats_.bytes_read += n;
          if (opts_.progress) {
            opts_.progress->bytes_read += n;
            opts_.progress->bytes_done += n;
          }
        }
        continue;
      }
      if (index == 0 && eof && cut == end - start) {  // the whole file is one chunk
        Id id;
        RETURN_IF_ERROR(Store(BlobType::kData, std::string_view(buf.data() + start, cut), &id));
        node->content.push_back(id);
        break;
      }
      if (!pending) pending = std::make_shared<PendingChunks>();
      // With the next chunk also in the buffer, the two go as one task, whose
      // ids are hashed side by side.
      ChunkBatch batch;
      batch.emplace_back(index++, std::string(buf.data() + start, cut));
      start += cut;
      if (const size_t next = next_cut(); next != 0) {
        batch.emplace_back(index++, std::string(buf.data() + start, next));
        start += next;
      }
      RETURN_IF_ERROR(SubmitChunks(pending, std::move(batch)));
    }
    if (pending) {
      ASSIGN_OR_RETURN(node->content, WaitChunks(pending));
    }
    node->size = total;
    return Status::Ok();
  }

  // Worker: reads and stores one regular file, which the walk opened. An
  // open that failed there is tried again here, where it may wait (for a
  // lease to be given back).
  Result<std::optional<Node>> ArchiveFile(const std::shared_ptr<UniqueFd>& dir, const std::string& abs, Node node,
                                          UniqueFd fd) {
    if (!fd.valid()) {
      fd = internal::OpenListedFile(dir->get(), node.name, /*may_wait=*/true);
      if (fd.valid()) internal::StartReadAhead(fd.get(), node.size);
    }
    if (!fd.valid()) {
      Warn("cannot read " + abs + ": " + std::strerror(errno) + " (left out of the snapshot)");
      return std::optional<Node>();
    }
    // The metadata of what is read, not of what was listed (the scan runs
    // ahead of the walk, and the walk ahead of the workers).
    struct stat now;
    if (::fstat(fd.get(), &now) != 0) {
      Warn("cannot read " + abs + ": " + std::strerror(errno) + " (left out of the snapshot)");
      return std::optional<Node>();
    }
    if (!S_ISREG(now.st_mode)) {
      Warn("cannot read " + abs + ": no longer a regular file (left out of the snapshot)");
      return std::optional<Node>();
    }
    FillNodeFromStat(node.name, now, &node);
    internal::ReadXattrs(fd.get(), &node.xattrs);
    const int raw_fd = fd.get();
    // A read error is the source's fault (warn, leave the file out); any
    // other error is the repository's, and fails the snapshot.
    Status source_error;
    Status st = ChunkStream([&](char* buf, size_t cap) -> Result<size_t> {
      for (;;) {
        ssize_t n = ::read(raw_fd, buf, cap);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno == EINTR) continue;
        source_error = Status::FromErrno(errno, "read " + abs);
        return source_error;
      }
    }, &node);
    if (!source_error.ok()) {
      Warn(source_error.message() + " (left out of the snapshot)");
      return std::optional<Node>();
    }
    RETURN_IF_ERROR(st);
    // The node keeps the metadata from before the read and the size of what
    // was read: a file that changed meanwhile is read again next time.
    struct stat after;
    if (::fstat(fd.get(), &after) == 0 &&
        (static_cast<uint64_t>(after.st_size) != node.size ||
         after.st_mtim.tv_sec * 1000000000 + after.st_mtim.tv_nsec != node.mtime_ns)) {
      if (opts_.warn) opts_.warn("warning: " + abs + " changed while it was read");
    }
    if (opts_.progress) opts_.progress->files++;
    return std::optional<Node>(std::move(node));
  }

  // Produces the node for one directory entry.
  Result<Slot> ArchiveEntry(const std::shared_ptr<UniqueFd>& dir, const std::string& abs,
                            const ListedEntry& entry, const Node* before, dev_t root_dev) {
    const std::string& name = entry.name;
    const struct stat& st = entry.st;
    Slot slot;
    Node node;
    FillNodeFromStat(name, st, &node);
    switch (node.type) {
      case NodeType::kFile: {
        stats_.total_bytes += node.size;
        if (!opts_.force_reread && before != nullptr && internal::SameFileMetadata(node, *before)) {
          ASSIGN_OR_RETURN(bool complete, AllBlobsPresent(before->content));
          if (complete) {
            node.content = before->content;
            node.xattrs = before->xattrs;  // xattr changes move ctime
            stats_.files_unmodified++;
            if (opts_.progress) {
              opts_.progress->files++;
              opts_.progress->bytes_done += node.size;
            }
            slot.ready = Encoded(node);
            return slot;
          }
        }
        (before != nullptr ? stats_.files_changed : stats_.files_new)++;
        // Opened here, and its head read ahead, while the workers are busy
        // with the files queued before it.
        UniqueFd fd = internal::OpenListedFile(dir->get(), name, /*may_wait=*/false);
        if (fd.valid()) internal::StartReadAhead(fd.get(), node.size);
        // A promise, not a packaged_task: the job (and the Node it holds) is
        // freed once it has run, and the future keeps only the result.
        struct FileJob {
          std::promise<NodeResult> result;
          std::shared_ptr<UniqueFd> dir;
          std::string abs;
          Node node;
          UniqueFd fd;
        };
        auto job = std::make_shared<FileJob>(FileJob{{}, dir, abs, std::move(node), std::move(fd)});
        slot.pending = job->result.get_future();
        pool_.Submit([this, job] {
          job->result.set_value(Encoded(ArchiveFile(job->dir, job->abs, std::move(job->node), std::move(job->fd))));
        });
        return slot;
      }
      case NodeType::kDir: {
        stats_.dirs++;
        if (opts_.progress) opts_.progress->dirs++;
        std::optional<EncodedTree> loaded;
        if (before != nullptr && before->type == NodeType::kDir) loaded = LoadParentTree(before->subtree, abs);
        const EncodedTree* before_tree = loaded ? &*loaded : nullptr;
        auto open = std::make_unique<OpenDirectory>();
        if (rules_.ListsContents(st, root_dev)) {
          DirectoryListing listing = ListForWalk(dir->get(), name, abs, st);
          if (!listing.fd->valid()) {
            Warn("cannot read directory " + abs + ": " + std::strerror(listing.open_errno) +
                 " (stored empty)");
          } else {
            node.xattrs = std::move(listing.xattrs);
            ASSIGN_OR_RETURN(open->slots, ArchiveDirectory(listing, before_tree, root_dev));
          }
        }
        open->node = std::move(node);
        if (before_tree != nullptr) open->parent_subtree = before->subtree;
        slot.pending = open->result.get_future();
        open_dirs_.push_back(std::move(open));
        RETURN_IF_ERROR(CloseDirectories(kMaxOpenDirectories));
        return slot;
      }
      case NodeType::kSymlink: {
        if (entry.link_errno != 0) {
          Warn("cannot read symlink " + abs + ": " + std::strerror(entry.link_errno) + " (left out)");
          return slot;
        }
        node.link_target = entry.link_target;
        node.size = node.link_target.size();
        stats_.other_nodes++;
        slot.ready = Encoded(node);
        return slot;
      }
      default:
        stats_.other_nodes++;
        slot.ready = Encoded(node);
        return slot;
    }
  }

  // The parent's chunks are there unless packs were lost since: prune never
  // deletes what a snapshot uses. Only then is each one looked up.
  Result<bool> AllBlobsPresent(const std::vector<Id>& ids) {
    if (!repo_.packs_lost()) return true;
    for (const Id& id : ids) {
      ASSIGN_OR_RETURN(bool has, repo_.HasBlob(id));
      if (!has) return false;
    }
    return true;
  }

  // The listing of the directory `name` in `parent_fd`, at `abs`, which the
  // walk stat'ed as `st`: the scan's, unless it is of another directory
  // (one that replaced it: a source root is stat'ed by the walk itself,
  // later than the scan opened it), or the walk's own.
  DirectoryListing ListForWalk(int parent_fd, const std::string& name, const std::string& abs,
                               const struct stat& st) {
    std::optional<DirectoryListing> listing;
    if (scan_ != nullptr) listing = scan_->Take(abs);
    if (listing && internal::IsListingOf(*listing, st)) return std::move(*listing);
    return internal::ListDirectory(parent_fd, name, abs);
  }

  // The parent snapshot's tree of the directory `abs`, to compare it with.
  // One that does not load (a damaged or lost pack) does not stop the
  // create: the directory is read as if new, and the damage is reported
  // (the CLI exits 3, as restic does for a parent tree it cannot load).
  std::optional<EncodedTree> LoadParentTree(const Id& id, const std::string& abs) {
    auto t = repo_.LoadEncodedTree(id);
    if (t.ok()) return std::move(t).value();
    ParentUnreadable("the previous snapshot's tree of " + abs + " cannot be read (" + t.status().message() +
                     "); its files are read again");
    return std::nullopt;
  }

  // The node `name` (at `abs`) in the parent's tree, if any. One that does
  // not decode counts as absent (the entry is read again) and is reported,
  // as a parent tree that does not load is.
  std::optional<Node> ParentNode(const EncodedTree* before, std::string_view name, const std::string& abs) {
    if (before == nullptr) return std::nullopt;
    Result<std::optional<Node>> found = before->Find(name);
    if (found.ok()) return std::move(found).value();
    ParentUnreadable("the previous snapshot's entry of " + abs + " cannot be read (" + found.status().message() +
                     "); it is read again");
    return std::nullopt;
  }
  // Not a source that could not be read (stats_.errors): nothing is missing
  // from this snapshot, but the repository needs looking at.
  void ParentUnreadable(const std::string& what) {
    parent_unreadable_++;
    if (opts_.warn) opts_.warn(what + "; run 'jsnap check' to find the damage");
  }

  // Submits every entry of a listed directory; the slots fill in as workers
  // finish.
  Result<std::vector<Slot>> ArchiveDirectory(const DirectoryListing& listing, const EncodedTree* before,
                                             dev_t root_dev) {
    const std::string& abs = listing.path;
    if (listing.list_errno != 0) {
      Warn((listing.entries.empty() ? "cannot list directory " : "error listing ") + abs + ": " +
           std::strerror(listing.list_errno));
    }
    std::vector<Slot> slots;
    slots.reserve(listing.entries.size());
    for (const ListedEntry& entry : listing.entries) {
      const std::string child = abs == "/" ? "/" + entry.name : abs + "/" + entry.name;
      if (entry.stat_errno != 0) {
        Warn("cannot stat " + child + ": " + std::strerror(entry.stat_errno) + " (left out)");
        continue;
      }
      if (rules_.LeftOut(child, entry.st)) continue;
      const std::optional<Node> prev_node = ParentNode(before, entry.name, child);
      const Node* prev = prev_node ? &*prev_node : nullptr;
      if (rules_.IsSqlite(child)) {
        ASSIGN_OR_RETURN(Slot slot, ArchiveSqlite(child, entry.name, entry.st, prev));
        slots.push_back(std::move(slot));
        continue;
      }
      ASSIGN_OR_RETURN(Slot slot, ArchiveEntry(listing.fd, child, entry, prev, root_dev));
      slots.push_back(std::move(slot));
    }
    return slots;
  }

  // Stores the trees of the oldest open directories: those whose entries
  // are all done, and any beyond the newest `keep_open` (waiting for them).
  // The queue is in post-order, so a directory's subdirectories are closed
  // before it. The first error stops the walk.
  Status CloseDirectories(size_t keep_open) {
    while (!open_dirs_.empty()) {
      OpenDirectory& d = *open_dirs_.front();
      if (open_dirs_.size() <= keep_open && !AllDone(d)) break;
      Result<std::optional<Node>> node = CloseDirectory(d);
      const Status st = node.status();
      d.result.set_value(Encoded(std::move(node)));
      open_dirs_.pop_front();
      RETURN_IF_ERROR(st);
    }
    return Status::Ok();
  }

  Result<std::optional<Node>> CloseDirectory(OpenDirectory& d) {
    ASSIGN_OR_RETURN(std::string tree, CollectTree(d.slots));
    ASSIGN_OR_RETURN(d.node.subtree, StoreTree(tree, d.parent_subtree));
    return std::optional<Node>(std::move(d.node));
  }

  static bool AllDone(OpenDirectory& d) {
    for (; d.done < d.slots.size(); ++d.done) {
      const Slot& s = d.slots[d.done];
      if (s.pending.valid() && s.pending.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        return false;
      }
    }
    return true;
  }

  // Waits for the pending nodes and returns their tree blob (the first
  // error wins), with Tree::Normalize's checks: names in name order (a
  // listing's order already), each valid and unique (CheckSortedNodeName).
  static Result<std::string> CollectTree(std::vector<Slot>& slots) {
    std::vector<EncodedNode> nodes;
    nodes.reserve(slots.size());
    Status first;
    for (Slot& s : slots) {
      if (s.pending.valid()) {
        NodeResult r = s.pending.get();
        if (!r.ok()) {
          if (first.ok()) first = r.status();
          continue;
        }
        s.ready = std::move(r.value());
      }
      if (s.ready) nodes.push_back(std::move(*s.ready));
      s.ready.reset();
    }
    RETURN_IF_ERROR(first);
    auto by_name = [](const EncodedNode& a, const EncodedNode& b) { return a.name < b.name; };
    if (!std::is_sorted(nodes.begin(), nodes.end(), by_name)) std::sort(nodes.begin(), nodes.end(), by_name);
    size_t bytes = 0;
    for (size_t i = 0; i < nodes.size(); ++i) {
      RETURN_IF_ERROR(CheckSortedNodeName(nodes[i].name, i > 0 ? std::optional<std::string_view>(nodes[i - 1].name)
                                                                : std::nullopt));
      bytes += nodes[i].record.size();
    }
    std::string tree;
    tree.reserve(bytes);
    for (EncodedNode& n : nodes) {
      tree += n.record;
      n = EncodedNode();  // frees the record as the tree grows
    }
    return tree;
  }

  Result<Id> ArchiveSourceTree(const SourceTree& src, const std::string& abs, const EncodedTree* before) {
    std::vector<Slot> slots;
    const std::string dir_path = abs.empty() ? "/" : abs;
    auto dir = std::make_shared<UniqueFd>(::open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    const int dir_errno = dir->valid() ? 0 : errno;
    for (const auto& [name, child] : src.children) {
      const std::string child_abs = abs + "/" + name;
      const std::optional<Node> prev_node = ParentNode(before, name, child_abs);
      const Node* prev = prev_node ? &*prev_node : nullptr;
      if (child.stream != nullptr) {
        ASSIGN_OR_RETURN(Node node, ArchiveStream(*child.stream, name));
        Slot s;
        s.ready = Encoded(node);
        slots.push_back(std::move(s));
        continue;
      }
      // A source itself is stored as what it is (a symlink stays one); the
      // directories leading to it are followed.
      ListedEntry entry;
      entry.name = name;
      if (!dir->valid()) {
        entry.stat_errno = dir_errno;
      } else if (child.whole) {
        entry = internal::StatEntry(dir->get(), name);
      } else if (::fstatat(dir->get(), name.c_str(), &entry.st, 0) != 0) {
        entry.stat_errno = errno;
      }
      const struct stat& st = entry.st;
      const bool ok = entry.stat_errno == 0;
      if (!ok && OnlyStreams(child)) {
        // A directory that exists only in the snapshot, to hold a stream
        // stored at an absolute name (--stdin-name /backups/db.sql).
        Node node = ProcessOwnedNode(name, NodeType::kDir, 0755);
        ASSIGN_OR_RETURN(node.subtree, ArchiveSourceTree(child, child_abs, nullptr));
        Slot s;
        s.ready = Encoded(node);
        slots.push_back(std::move(s));
        continue;
      }
      if (!ok) {
        Warn("cannot read " + child_abs + ": " + std::strerror(entry.stat_errno) + " (left out)");
        continue;
      }
      if (child.sqlite) {
        ASSIGN_OR_RETURN(Slot slot, ArchiveSqlite(child_abs, name, st, prev));
        slots.push_back(std::move(slot));
        continue;
      }
      if (child.whole) {
        ASSIGN_OR_RETURN(Slot slot, ArchiveEntry(dir, child_abs, entry, prev, st.st_dev));
        slots.push_back(std::move(slot));
        continue;
      }
      // A directory on the way to a source: its metadata, and only the
      // entries that lead to sources.
      Node node;
      FillNodeFromStat(name, st, &node);
      node.type = NodeType::kDir;
      node.size = 0;
      std::optional<EncodedTree> loaded;
      if (prev != nullptr && prev->type == NodeType::kDir) loaded = LoadParentTree(prev->subtree, child_abs);
      const EncodedTree* prev_tree = loaded ? &*loaded : nullptr;
      ASSIGN_OR_RETURN(node.subtree, ArchiveSourceTree(child, child_abs, prev_tree));
      Slot s;
      s.ready = Encoded(node);
      slots.push_back(std::move(s));
    }
    RETURN_IF_ERROR(CloseDirectories(0));  // the slots may wait on open directories
    ASSIGN_OR_RETURN(std::string tree, CollectTree(slots));
    return StoreTree(tree);
  }

  // `/` itself is a source: the root tree is its listing (the root tree
  // stands for `/` in every snapshot; `/` has no node of its own).
  Result<Id> ArchiveWholeRoot(const EncodedTree* before) {
    struct stat st;
    if (::lstat("/", &st) != 0) return Status::FromErrno(errno, "stat /");
    const DirectoryListing listing = ListForWalk(AT_FDCWD, "/", "/", st);
    if (!listing.fd->valid()) return Status::FromErrno(listing.open_errno, "open /");
    stats_.dirs++;
    ASSIGN_OR_RETURN(std::vector<Slot> slots, ArchiveDirectory(listing, before, st.st_dev));
    RETURN_IF_ERROR(CloseDirectories(0));  // the slots may wait on open directories
    ASSIGN_OR_RETURN(std::string tree, CollectTree(slots));
    return StoreTree(tree);
  }

  static bool OnlyStreams(const SourceTree& t) {
    if (t.whole || t.sqlite) return false;
    for (const auto& [name, child] : t.children) {
      if (child.stream == nullptr && !OnlyStreams(child)) return false;
    }
    return true;
  }

  // Images a live database through SQLite; its pages are stored by the
  // workers as they arrive. A database that cannot be imaged is reported
  // and left out, like an unreadable file.
  // The stat data of a database and the files SQLite commits through: any
  // committed transaction changes one of them (its size or mtime).
  static Id SqliteSourceState(const std::string& abs) {
    std::string state;
    for (const char* suffix : {"", "-wal", "-journal"}) {
      struct stat st;
      // A missing and an empty -wal/-journal hold the same: nothing (a
      // reader opening a WAL database may create an empty -wal).
      if (::stat((abs + suffix).c_str(), &st) != 0 || (*suffix != '\0' && st.st_size == 0)) {
        state += "-;";
        continue;
      }
      state += std::to_string(st.st_size) + "," + std::to_string(st.st_mtim.tv_sec) + "." +
               std::to_string(st.st_mtim.tv_nsec) + "," + std::to_string(st.st_ino);
      // Not the companions' ctime: SQLite running as root fchowns a -wal
      // whenever it opens it, even to read. Writes move mtime.
      if (*suffix == '\0') state += "," + std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
      state += ";";
    }
    // Timestamps are coarse (a jiffy on ext4) and a reset WAL is rewritten
    // in place, so also what SQLite records of each commit: the database
    // header (file change counter: rollback mode) and, from the wal-index
    // header in -shm, the fields derived from the WAL's content (last frame,
    // page count, last frame checksum, salts: WAL mode). Not its change
    // counter: a reader's recovery rewrites that without any commit.
    // (With an empty WAL the database file holds everything, and a reader's
    // open may re-initialise the wal-index: leave it out then.)
    struct stat wal;
    const bool wal_frames = ::stat((abs + "-wal").c_str(), &wal) == 0 && wal.st_size > 0;
    state += BytesOrLess(abs, 0, 100) + "|" + (wal_frames ? BytesOrLess(abs + "-shm", 16, 24) : std::string());
    return PlainHash(state);
  }

  // Up to `n` bytes at `offset`; fewer (or none) for a short or missing
  // file, which is itself part of the state (unlike jsnap::ReadAt, no error).
  static std::string BytesOrLess(const std::string& path, off_t offset, size_t n) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return "";
    std::string buf(n, '\0');
    const ssize_t got = ::pread(fd.get(), buf.data(), n, offset);
    buf.resize(got > 0 ? static_cast<size_t>(got) : 0);
    return buf;
  }

  Result<Slot> ArchiveSqlite(const std::string& abs, const std::string& name, const struct stat& st,
                             const Node* before) {
    Slot slot;
    Node node;
    FillNodeFromStat(name, st, &node);
    if (node.type != NodeType::kFile) {
      Warn("--sqlite " + abs + " is a " + NodeTypeName(node.type) + ", not a database file (left out)");
      return slot;
    }
    const Id state = SqliteSourceState(abs);
    if (!opts_.force_reread && before != nullptr && before->sqlite && before->sqlite->source_state == state) {
      ASSIGN_OR_RETURN(bool complete, AllBlobsPresent(before->content));
      if (complete) {  // nothing committed since the parent: its image stands
        node.content = before->content;
        node.size = before->size;
        node.sqlite = before->sqlite;
        stats_.files_unmodified++;
        stats_.total_bytes += node.size;
        if (opts_.progress) opts_.progress->files++, opts_.progress->bytes_done += node.size;
        slot.ready = Encoded(node);
        return slot;
      }
    }
    auto pending = std::make_shared<PendingChunks>();
    // The parent's pages are known to exist (when no packs were lost).
    const std::vector<Id>* known =
        before != nullptr && before->sqlite && !repo_.packs_lost() ? &before->content : nullptr;
    ChunkBatch batch;
    ChunkSink sink = [&](uint64_t index, std::string data) -> Status {
      stats_.bytes_read += data.size();
      if (opts_.progress) opts_.progress->bytes_read += data.size(), opts_.progress->bytes_done += data.size();
      batch.emplace_back(index, std::move(data));
      if (batch.size() < kPagesPerTask) return Status::Ok();
      return SubmitChunks(pending, std::exchange(batch, {}), known, CompressionProfile::kPage);
    };
    auto image = StreamSqliteImage(abs, opts_.sqlite_timeout, opts_.sqlite_chunk_size, sink);
    Status last = SubmitChunks(pending, std::move(batch), known, CompressionProfile::kPage);
    auto content = WaitChunks(pending);
    if (content.ok() && !last.ok()) content = last;
    if (!content.ok()) return content.status();  // the repository failed
    if (!image.ok()) {
      Warn(image.status().message() + " (left out of the snapshot)");
      return slot;
    }
    node.content = std::move(content).value();
    node.size = image->size;
    node.sqlite = image->info;
    // Taken before imaging: a commit during the imaging changes the state,
    // so the next create images again.
    node.sqlite->source_state = state;
    stats_.files_new++;
    stats_.total_bytes += node.size;
    if (opts_.progress) opts_.progress->files++;
    sqlite_nodes_.push_back({abs, node});
    slot.ready = Encoded(node);
    return slot;
  }

  Status VerifySqliteImages() {
    for (const auto& [path, node] : sqlite_nodes_) {
      RETURN_IF_ERROR(CheckStoredSqlite(repo_, node, path).WithContext("--verify-sqlite"));
    }
    return Status::Ok();
  }

  // A node with no file behind it (a stream, or a directory holding one):
  // owned by this process, dated at the snapshot's time.
  Node ProcessOwnedNode(const std::string& name, NodeType type, uint32_t mode) const {
    Node node;
    node.name = name;
    node.type = type;
    node.mode = mode;
    node.uid = ::geteuid();
    node.gid = ::getegid();
    node.user = CurrentUser();
    node.mtime_ns = node.ctime_ns = opts_.time_ns;
    return node;
  }

  Result<Node> ArchiveStream(const StreamSource& s, const std::string& name) {
    Node node = ProcessOwnedNode(name, NodeType::kFile, 0600);
    stats_.files_new++;
    RETURN_IF_ERROR(ChunkStream(s.read, &node));
    stats_.total_bytes += node.size;
    if (s.finish) RETURN_IF_ERROR(s.finish());
    return node;
  }

  Repository& repo_;
  const ArchiveOptions& opts_;
  const internal::WalkRules rules_;
  SourceScan* scan_;  // may be null
  Stats stats_;
  std::atomic<uint64_t> parent_unreadable_{0};
  // Bounds the finished nodes held for trees not yet stored.
  static constexpr size_t kMaxOpenDirectories = 256;
  std::deque<std::unique_ptr<OpenDirectory>> open_dirs_;  // walk thread only

  // Declared in this order so that the file workers (which submit chunks)
  // are joined before the chunk workers.
  ThreadPool chunk_pool_;  // hash, compress, seal, pack: one task per chunk
  ThreadPool pool_;        // read and chunk: one task per file
  std::vector<std::pair<std::string, Node>> sqlite_nodes_;  // for --verify-sqlite
};

}  // namespace

std::string NormalizePath(const std::string& path) {
  std::string abs = path;
  if (abs.empty() || abs[0] != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof(cwd)) != nullptr) abs = std::string(cwd) + "/" + abs;
  }
  std::vector<std::string> parts;
  for (const std::string& c : internal::Components(abs)) {
    if (c == ".") continue;
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  std::string out;
  for (const std::string& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

Status CheckSources(const ArchiveOptions& opts) { return internal::BuildSourceTree(opts).status(); }

Result<ArchiveResult> CreateSnapshot(Repository& repo, const ArchiveOptions& opts, SourceScan* scan) {
  if (opts.paths.empty() && opts.streams.empty() && opts.sqlite_paths.empty()) {
    return Status::InvalidArgument("nothing to back up: give at least one path");
  }
  Archiver archiver(repo, opts, scan);
  return archiver.Run();
}

}  // namespace jsnap

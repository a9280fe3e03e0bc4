// Repository: a backend's files seen through the master key, with the index.
// The one object operations (create, restore, check, ...) talk to: save and
// load blobs and trees, save and list snapshots. Storage, packing, encryption
// and indexing stay behind it.
//
// Write ordering (the crash-safety invariant, format-spec.md "Invariants"):
// a pack is durable before the index names it; every pack (data and tree)
// is durable before the snapshot that refers to it is saved. A tree pack
// may reach disk before the data packs of its chunks; nothing refers to it
// until the snapshot exists, and a later create stores every chunk it reads
// that the index lacks (a tree found in the index is not trusted for the
// files below it). An interrupted writer leaves at most unreferenced packs.
//
// Thread-safety: SaveBlob, LoadBlob, HasBlob and the tree functions may be
// called from many threads at once; the rest from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <optional>
#include <string>
#include <set>
#include <span>
#include <unordered_set>
#include <vector>

#include "jsnap/backend.h"
#include "jsnap/chunker.h"
#include "jsnap/crypto.h"
#include "jsnap/index.h"
#include "jsnap/lock.h"
#include "jsnap/snapshot.h"
#include "jsnap/tree.h"

namespace jsnap {

class PackUpload;     // src/repository/pack_upload.h
class PackDirectory;  // src/repository/pack_directory.h

// The version new repositories get. 3 seals blobs with their type and id
// as associated data (pack.h, BlobAd); 2, without, is still read and written.
inline constexpr int kFormatVersion = 3;
inline constexpr int kOldestFormatVersion = 2;
extern const char* const kProgramVersion;

struct RepoConfig {
  int version = kFormatVersion;
  Id id;
  ChunkerParams chunker;
  uint32_t pack_size = 16 << 20;  // target size of a pack file
};

struct InitOptions {
  ChunkerParams chunker;
  uint32_t pack_size = 16 << 20;
  KdfParams kdf = KdfParams::Default();
};

struct OpenOptions {
  LockMode lock = LockMode::kShared;
  std::chrono::milliseconds wait_lock{0};
  std::string description;  // shown to processes waiting for the lock
  int compression_level = 3;
  // Writers reconcile the index with the packs and snapshots on open; an
  // absent or damaged index is rebuilt. Readers only read it.
  bool writable = false;
  // Rebuild the index from scratch instead of syncing it (repair index).
  bool rebuild_index = false;
};

struct KeyInfo {
  std::string id;
  std::string created;
  std::string hostname;
  std::string username;
  bool current = false;
};

struct SnapshotEntry {
  Id id;
  Snapshot snapshot;
};

class Repository {
 public:
  static Status Init(const std::string& path, const std::string& password, const InitOptions& opts);
  // NoRepository when `path` holds no repository; WrongPassword when no key
  // file opens with `password`; Locked when the lock cannot be had in time.
  static Result<std::unique_ptr<Repository>> Open(const std::string& path,
                                                  const std::string& password,
                                                  const OpenOptions& opts);
  ~Repository();

  const RepoConfig& config() const { return config_; }
  // From now on LoadBlobs and LoadTree look blobs up in the headers of the
  // packs they read from last, up to `max_entries` blobs in all, before
  // asking the index (pack_directory.h): for reads of many blobs stored
  // together, a restore or the parent's trees in a create. Call before the
  // reads; 0 turns it off.
  void UsePackDirectory(size_t max_entries);
  // Whether blobs are sealed with a BlobAd (format version 3 and later).
  bool blobs_bound() const { return config_.version >= 3; }
  // How to open a stored blob of this repository; `rehash` as BlobCheck.
  // `ad` must outlive the result.
  BlobCheck BlobCheckFor(const BlobAd& ad, bool rehash) const { return {SealingAd(ad), rehash}; }
  // The associated data blobs are sealed with: `ad`, or none before version 3.
  std::string_view SealingAd(const BlobAd& ad) const { return blobs_bound() ? ad.view() : std::string_view(); }
  const Chunker& chunker() const { return chunker_; }
  const std::string& root() const { return root_; }
  Backend& backend() { return *backend_; }
  Index& index() { return *index_; }
  const MasterKey& key() const { return key_; }

  // --- blobs -------------------------------------------------------------
  Id BlobId(std::string_view plaintext) const { return KeyedHash(key_.id_mac, plaintext); }
  void BlobIds(const std::string_view* plaintexts, size_t count, Id* out) const {
    KeyedHashMany(key_.id_mac, plaintexts, count, out);
  }
  // Stores a blob unless the repository has it. `added` tells which; `stored`
  // (optional) receives the bytes it takes in the pack.
  Status SaveBlob(BlobType type, std::string_view plaintext, Id* id, bool* added,
                  uint64_t* stored = nullptr);
  // The same, for a caller that has computed the id (BlobId) already;
  // `profile` says what the blob holds (a database page compresses apart).
  Status SaveBlobWithId(BlobType type, const Id& id, std::string_view plaintext, bool* added,
                        uint64_t* stored = nullptr,
                        CompressionProfile profile = CompressionProfile::kDefault);
  Result<bool> HasBlob(const Id& id);
  // A data blob (a chunk of file content; trees load with LoadTree): one the
  // index lists as a tree is refused, and in format version 3 the blob must
  // open as a data blob.
  Result<std::string> LoadBlob(const Id& id);
  // The data blobs `ids` (a file's chunks, in order), each checked like
  // LoadBlob and, from format version 3 on, as a data blob. Blobs stored one
  // after another in a pack are read with one request: a database restored
  // page by page reads its packs in runs, not per page.
  Result<std::vector<std::string>> LoadBlobs(std::span<const Id> ids);
  // Writes the open packs and indexes them. Call before saving anything
  // that refers to the blobs saved so far.
  Status Flush();
  // After a failed write operation that saved no snapshot: deletes the
  // packs this process wrote (nothing can refer to them: the append lock
  // admits one writer, and no snapshot of this process names them), so a
  // failure (a full disk) gives its space back.
  // Best effort: whatever cannot be removed is an unreferenced pack for prune.
  void DiscardWrittenPacks();

  Result<Id> SaveTree(const Tree& tree, bool* added, uint64_t* stored = nullptr);
  Result<Tree> LoadTree(const Id& id);
  // The same tree, its nodes left encoded until looked up (EncodedTree).
  Result<EncodedTree> LoadEncodedTree(const Id& id);

  // --- snapshots -----------------------------------------------------------
  Result<Id> SaveSnapshot(const Snapshot& snapshot);
  // All snapshots, oldest first. A snapshot file that cannot be read is
  // left out with a warning on stderr, or, when `unreadable` is given,
  // described there instead (check counts them as damage).
  Result<std::vector<SnapshotEntry>> ListSnapshots(std::vector<std::string>* unreadable = nullptr);
  // "latest", a full id, or a unique prefix of one.
  Result<SnapshotEntry> FindSnapshot(const std::string& ref);
  Status RemoveSnapshot(const Id& id);
  // Reads a snapshot file and checks it: hash, authentication, record.
  Status VerifySnapshotFile(const Id& id);

  // Reads a pack's header from the pack file of `size` bytes: its trailer
  // and sealed header must hash to the pack's name, decrypt and decode.
  // Corruption otherwise (the caller names the pack).
  Result<std::vector<PackEntry>> ReadPackHeader(const Id& pack, uint64_t size);

  // --- keys ------------------------------------------------------------------
  Result<std::vector<KeyInfo>> ListKeys();
  Result<std::string> AddKey(const std::string& password, const KdfParams& kdf);
  Status RemoveKey(const std::string& id_prefix);
  const std::string& current_key_id() const { return key_id_; }

  // --- index -----------------------------------------------------------------
  // Deletes the index and rebuilds it from pack headers and snapshot files.
  Status RebuildIndex();
  // True once an index sync found packs missing that the index named, or
  // `repair packs` removed damaged blobs, until `repair snapshots` has
  // rewritten what refers to lost data or a prune found every used blob:
  // snapshots may refer to lost data, and a
  // create must not reuse a parent's chunk lists without checking that each
  // chunk still exists. Kept in the file `packs-lost` in the repository.
  bool packs_lost() const { return packs_lost_; }
  Status MarkPacksLost();
  Status ClearPacksLost();
  std::string IndexPath() const;

 private:
  Repository() = default;
  Status OpenIndex(bool writable);
  Status SyncIndex();
  // Marks packs lost when the open index names packs that are gone.
  Status NoteLostPacks();
  Status IndexPackFromBackend(const Id& pack, uint64_t size);
  // A finished pack: its upload, whose pieces workers may still be
  // writing, and its tail (the blobs not yet written, header, trailer).
  struct QueuedPack {
    std::shared_ptr<PackUpload> upload;
    std::string tail;
    uint64_t offset = 0;  // of the tail in the pack
    std::vector<PackEntry> entries;
  };
  Status WritePack(QueuedPack pack);
  // Hands a finished pack to the writer thread; waits while one is queued.
  Status EnqueuePack(QueuedPack pack);
  size_t PieceCapacity() const;
  std::string TakeSparePiece();  // under mu_
  void ReturnSparePiece(std::string piece);
  // Waits until the writer has written everything queued; its first error.
  Status WaitForWriter();
  void WriterLoop();
  // LoadBlobs for blobs of `type`, found through the pack directory when
  // one is in use.
  Result<std::vector<std::string>> LoadBlobsOfType(std::span<const Id> ids, BlobType type);
  // The index's location of `id`; NotFound (with what to do) when it has none.
  Result<BlobLocation> Locate(const Id& id);
  // Reads `pack`'s header into directory_ (an unreadable one is noted and
  // skipped: its blobs are found through the index).
  void LearnPack(const Id& pack);
  // Reads and checks blobs at known locations, adjacent ones with one
  // request; in format version 3 each must open as a blob of `type` (or of
  // its location's type, when none is given).
  Result<std::vector<std::string>> LoadLocated(std::span<const Id> ids, const std::vector<BlobLocation>& locs,
                                               std::optional<BlobType> type);
  Result<std::string> LoadSnapshotRecord(const Id& id);

  std::string root_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<RepoLock> lock_;
  std::unique_ptr<Index> index_;
  RepoConfig config_;
  MasterKey key_;
  std::string key_id_;
  Chunker chunker_{ChunkerParams{}, KeyBytes{}};
  int compression_level_ = 3;
  bool packs_lost_ = false;
  // Readers only: the snapshot files that existed before the index view was
  // opened. A create saves a snapshot only after indexing its packs, so the
  // view covers exactly these; a newer snapshot would name blobs it lacks.
  std::optional<std::set<std::string>> visible_snapshots_;
  std::unique_ptr<PackDirectory> directory_;  // null unless UsePackDirectory

  std::mutex mu_;                                // guards the members below
  std::unordered_set<Id, IdHash> pending_;       // saved, not yet indexed
  // Packs fill by type and leave in pieces of kPackPiece bytes as they fill,
  // so a create holds no whole pack in memory (two 16 MiB packs were a
  // third of its peak RSS).
  static constexpr size_t kPackPiece = 1 << 20;
  static constexpr size_t kSparePieces = 4;      // buffers kept for reuse
  PackWriter packers_[2];                        // by BlobType
  std::shared_ptr<PackUpload> uploads_[2];       // their files, from the first blob on
  std::vector<std::string> spare_pieces_;
  std::vector<Id> written_packs_;                // by this process

  // Finished packs on their way to the backend. A writer thread writes
  // their tails, commits them (fsync) and indexes them, so no worker waits
  // for the disk while the next pack fills; at most one pack is in flight.
  std::mutex write_mu_;
  std::condition_variable write_cv_;
  std::deque<QueuedPack> write_queue_;
  bool writer_busy_ = false;
  bool writer_stop_ = false;
  Status write_error_;
  std::thread writer_;
};

}  // namespace jsnap

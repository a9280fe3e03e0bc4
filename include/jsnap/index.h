// Index: the repository's RocksDB database (directory `index/`), a cache of
// what the packs and snapshot files hold. It can always be rebuilt from them
// (`jsnap repair index`), and a rebuilt index answers every query alike.
//
// Keys (format-spec.md, "Index"):
//   'b' + blob id       -> pack number u32le | offset u32le | length u32le | raw u32le | type u8
//   'p' + pack id       -> pack record (number, size, count of header entries)
//   'n' + number u32be  -> pack id
//   's' + snapshot id   -> snapshot record (the snapshot file's plaintext)
// A blob names its pack by a number local to this index (4 bytes, not 32),
// and the pack headers are not copied: each blob is in the index once.
// ~60 bytes per blob instead of ~130 (the kernel tree: 4.7 MiB, not 10.4).
//
// The database files (tables, WAL, manifest; not RocksDB's plain-text LOG
// files, which hold no keys or values) are encrypted at rest (XChaCha20 with
// a random nonce per file, key = the master key's index subkey; spec 16.1):
// the index holds snapshot records and blob sizes, which must be as private
// as the sealed files they come from.
//
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jsnap/crypto.h"
#include "jsnap/id.h"
#include "jsnap/pack.h"
#include "jsnap/status.h"

namespace jsnap {

struct BlobLocation {
  Id pack;
  BlobType type = BlobType::kData;
  uint32_t offset = 0;
  uint32_t length = 0;
  uint32_t raw_length = 0;
};

struct PackInfo {
  Id id;
  uint64_t size = 0;
  // AddPack/ReplacePacks: the pack header's entries. From the index: the
  // blobs it locates in this pack, by offset (a blob stored in several
  // packs is listed at one of them).
  std::vector<PackEntry> entries;
  uint32_t header_entries = 0;  // from the index: entries in the pack's header
};

class Index {
 public:
  // Opens (creating when missing, unless read_only) the database at `path`,
  // encrypted with `key`.
  static Result<std::unique_ptr<Index>> Open(const std::string& path, const KeyBytes& key,
                                             bool read_only);
  virtual ~Index() = default;

  virtual Result<std::optional<BlobLocation>> Find(const Id& blob) = 0;
  // Adds a pack and all its blobs in one durable (synced) write. A blob
  // stored in several packs is indexed at the pack with the smallest id.
  virtual Status AddPack(const PackInfo& pack) = 0;
  // In one durable write: drops the `removed` packs and adds the `added`
  // ones. Blob entries that pointed into a removed pack move to an added pack
  // holding the blob, or are deleted. Prune's commit point. Scans every blob
  // entry when packs are removed.
  virtual Status ReplacePacks(const std::vector<Id>& removed, const std::vector<PackInfo>& added) = 0;
  // Every pack with its blobs: scans all blob entries (check, prune, stats).
  virtual Status ForEachPack(const std::function<void(const PackInfo&)>& fn) = 0;
  // Every pack's id and size only: cheap (the sync on each open).
  virtual Status ForEachPackSize(const std::function<void(const Id&, uint64_t size)>& fn) = 0;
  virtual Status ForEachBlob(const std::function<void(const Id&, const BlobLocation&)>& fn) = 0;

  virtual Status PutSnapshot(const Id& id, const std::string& record) = 0;
  virtual Status RemoveSnapshot(const Id& id) = 0;
  virtual Status ForEachSnapshot(
      const std::function<void(const Id&, const std::string& record)>& fn) = 0;

  // Upkeep before a writer's normal close: merges the small tables that
  // each session's flush leaves, once they outnumber their bytes (more than
  // 16, and more than one per 4 MiB). Errors are ignored: the index is whole
  // either way. Nothing for a read-only index.
  virtual void MergeSmallTables() = 0;
};

// Deletes the database at `path` (for rebuilds).
Status DestroyIndex(const std::string& path);


}  // namespace jsnap

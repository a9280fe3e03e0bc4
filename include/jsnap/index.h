// Index: the repository's RocksDB database (directory `index/`), a cache of
// what the packs and snapshot files hold. It can always be rebuilt from them
// (`jsnap repair index`), and a rebuilt index answers every query alike.
//
// Keys (format-spec.md, "Index"):
//   'b' + blob id     -> pack id | offset u32le | length u32le | raw u32le | type u8
//   'p' + pack id     -> pack record (size, time, the pack header's entries)
//   's' + snapshot id -> snapshot record (the snapshot file's plaintext)
//
// The database files (tables, WAL, manifest; not RocksDB's plain-text LOG
// files, which hold no keys or values) are encrypted at rest (RocksDB's CTR EncryptedEnv with
// a keyed BLAKE2b-512 block function, key = the master key's index subkey):
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
  int64_t last_verified_ns = 0;  // last full data check (0: never)
  std::vector<PackEntry> entries;
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
  // Removes a pack and the blob entries that point into it.
  virtual Status RemovePack(const Id& pack) = 0;
  // In one durable write: drops the `removed` packs and adds the `added`
  // ones. Blob entries that pointed into a removed pack move to an added pack
  // holding the blob, or are deleted. Prune's commit point.
  virtual Status ReplacePacks(const std::vector<Id>& removed, const std::vector<PackInfo>& added) = 0;
  virtual Result<std::optional<PackInfo>> GetPack(const Id& pack) = 0;
  virtual Status ForEachPack(const std::function<void(const PackInfo&)>& fn) = 0;
  virtual Status ForEachBlob(const std::function<void(const Id&, const BlobLocation&)>& fn) = 0;

  virtual Status PutSnapshot(const Id& id, const std::string& record) = 0;
  virtual Status RemoveSnapshot(const Id& id) = 0;
  virtual Status ForEachSnapshot(
      const std::function<void(const Id&, const std::string& record)>& fn) = 0;
};

// Deletes the database at `path` (for rebuilds).
Status DestroyIndex(const std::string& path);

std::string EncodePackInfo(const PackInfo& info);
Result<PackInfo> DecodePackInfo(const Id& id, std::string_view record);

}  // namespace jsnap

// Where blobs sit, learned from the headers of recently used packs. A read
// of many blobs (restoring a database of 100k pages) asked the index once
// per blob, ~15 % of the restore's CPU; blobs stored together are mostly
// restored together, so one header read answers thousands of lookups.
// Locations from a header need no trust beyond the index's: every blob read
// is still checked (its AEAD and associated data, or its re-hash).
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_set>
#include <vector>

#include "jsnap/index.h"

namespace jsnap {

class PackDirectory {
 public:
  // Holds the headers of the packs read last, up to `max_entries` blobs in
  // all (48 bytes each), and at least the newest pack's.
  explicit PackDirectory(size_t max_entries) : max_entries_(max_entries) {}

  std::optional<BlobLocation> Find(const Id& blob);
  // True when `pack`'s header is neither held nor known to be unreadable:
  // the caller reads it and hands it to Add (or MarkUnreadable).
  bool Wants(const Id& pack);
  void Add(const Id& pack, std::vector<PackEntry> entries);
  void MarkUnreadable(const Id& pack);

 private:
  // A pack's entries sorted by blob id, searched in place: a header is held
  // as it was decoded (a pack of 300k small files: 14 MB), not copied into a
  // hash map (~130 bytes per blob, 40 MB).
  struct HeldPack {
    Id id;
    std::vector<PackEntry> entries;
  };
  static std::optional<BlobLocation> Search(const HeldPack& pack, const Id& blob);

  const size_t max_entries_;
  std::mutex mu_;
  std::deque<HeldPack> packs_;  // oldest first
  size_t held_entries_ = 0;
  // The pack the last blob was found in, searched first: blobs stored
  // together are mostly read together. (A deque's elements stay in place
  // while others are added and removed at its ends.)
  const HeldPack* last_hit_ = nullptr;
  std::unordered_set<Id, IdHash> unreadable_;
};

}  // namespace jsnap

// Prune: reclaims what no snapshot refers to, and repairing snapshots that
// refer to lost data. Both need the exclusive lock (they delete).
//
// Prune, in crash-safe order:
//   1. mark every blob the snapshots reach (trees walked once each);
//   2. plan: packs with nothing live are deleted; packs whose unused share
//      exceeds max_unused are repacked (most unused first, up to
//      max_repack_bytes): their live blobs are verified and copied, still
//      sealed, into new packs;
//   3. write the new packs (durable);
//   4. commit: one synced index write drops the old packs and adds the new;
//   5. delete the old pack files, and temp files left by dead processes.
// Killed before 4, the repository is as it was plus unreferenced new packs;
// after 4, minus some files nothing refers to. A failure before 4 deletes
// the new packs again (a full disk gets its space back).
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "jsnap/repository.h"

namespace jsnap {

struct PruneOptions {
  double max_unused_percent = 5;       // repack a pack when more of it is unused
  uint64_t max_repack_bytes = UINT64_MAX;  // bounds the work and scratch space
  bool dry_run = false;
  // Snapshots to treat as already forgotten (forget --dry-run --prune).
  std::set<Id> ignore_snapshots;
  std::function<void(const std::string&)> progress;
};

struct PruneReport {
  uint64_t packs_before = 0, bytes_before = 0;
  uint64_t packs_deleted = 0, packs_repacked = 0, packs_written = 0;
  uint64_t blobs_removed = 0, bytes_freed = 0;
  uint64_t packs_after = 0, bytes_after = 0;
  uint64_t unused_bytes_kept = 0;  // in packs below the repack threshold
  uint64_t temp_files_removed = 0;
};

Result<PruneReport> Prune(Repository& repo, const PruneOptions& opts);

struct RepairOptions {
  bool forget_originals = false;  // else the originals stay until confirmed
  bool dry_run = false;
};

struct RepairedSnapshot {
  Id original;
  Id repaired;  // zero in a dry run, unless an earlier repair made it
  std::vector<std::string> damaged_paths;
};

// Rewrites each snapshot that refers to a blob in `bad`: a file missing
// chunks keeps the chunks that exist and is renamed "<name>.damaged" (or
// "<name>.damaged-2", ... when taken); a directory whose tree is lost becomes
// an empty "<name>.damaged". The new snapshot is tagged "repaired". Once no
// snapshot refers to lost data (the originals forgotten, or none affected),
// the repository's lost-packs marker is cleared.
Result<std::vector<RepairedSnapshot>> RepairSnapshots(Repository& repo, const std::set<Id>& bad,
                                                      const RepairOptions& opts);

struct SalvageReport {
  std::vector<Id> packs;          // rewritten (in a dry run: to be)
  std::vector<Id> blobs_dropped;  // did not open or hash to their ids
  size_t blobs_kept = 0;          // copied into the new packs
  size_t packs_written = 0;
};

// Rewrites each pack the index locates a blob of `damaged` in, without the
// blobs that no longer open or hash to their ids: those leave the index,
// so a create stores them again from the sources that still hold them,
// which makes every snapshot that refers to them whole again (a damaged
// blob left indexed was deduplicated against: new snapshots took the
// damage over). The repository is marked as having lost packs first, so
// creates check that their parent's blobs exist. Every blob kept is
// verified and copied sealed; nothing is deleted before the index names
// the new packs. Packs that are gone are left to 'repair index'.
Result<SalvageReport> SalvagePacks(Repository& repo, const std::set<Id>& damaged, bool dry_run);

}  // namespace jsnap

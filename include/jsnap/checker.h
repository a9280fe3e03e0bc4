// Checker: `jsnap check`. Verifies that the repository holds everything its
// snapshots need, and reports damage by what it hurts.
//
// Structure (always): every pack the index names exists with the recorded
// size, and its header (read from the pack) matches the index; every tree
// and chunk of every snapshot is in the index and in a sound pack; a pack's
// header must hash to its name. With read_data (or a subset), whole packs
// are read: every blob must decrypt, decompress and hash to its id.
// Problems are attributed to snapshots and files; blobs nothing refers to
// are counted apart (prune reclaims them), never as live.
//
// Runs under a shared lock, beside creates: packs a running create has
// written but not yet indexed are reported as warnings, not errors.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "jsnap/repository.h"

namespace jsnap {

struct CheckOptions {
  bool read_data = false;
  // --read-data-subset: one of these (all empty: every pack when read_data).
  std::optional<double> subset_fraction;         // "5%": the least recently verified packs
  std::optional<std::pair<int, int>> subset_group;  // "2/7": packs whose first id byte % 7 == 1
  std::optional<uint64_t> subset_bytes;          // "500M": least recently verified, up to the size
  // Parses "N%", "K/M" or a size with K/M/G/T suffix into the fields above.
  Status ParseSubset(const std::string& text);
  bool ReadsData() const { return read_data || subset_fraction || subset_group || subset_bytes; }
};

struct CheckProblem {
  std::string object;                // "pack 3f2a…", "blob 9c1e…"
  std::string error;                 // what is wrong
  std::vector<std::string> affects;  // "snapshot 1a2b3c4d: /srv/app/db.sqlite"
};

struct CheckReport {
  size_t snapshots = 0;
  size_t packs = 0;
  size_t packs_read = 0;  // read in full (read_data)
  uint64_t bytes_read = 0;
  size_t blobs_referenced = 0;
  size_t blobs_unreferenced = 0;
  uint64_t bytes_unreferenced = 0;
  std::vector<CheckProblem> errors;
  std::vector<std::string> warnings;
  std::set<Id> bad_blobs;  // missing or damaged, referenced or not
  std::vector<Id> packs_verified;  // read in full and found sound
  bool ok() const { return errors.empty(); }
};

Result<CheckReport> CheckRepository(Repository& repo, const CheckOptions& opts);

}  // namespace jsnap

// Snapshot records: one per `jsnap create`, stored as a sealed file
// `snapshots/<id>` whose plaintext is the record below (format-spec.md,
// "Snapshot"). The id is the BLAKE2b-256 of the file's bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jsnap/id.h"
#include "jsnap/status.h"

namespace jsnap {

struct SnapshotStats {
  uint64_t files_new = 0;
  uint64_t files_changed = 0;
  uint64_t files_unmodified = 0;
  uint64_t dirs = 0;
  uint64_t other_nodes = 0;     // symlinks and special files
  uint64_t total_bytes = 0;     // logical size of all files
  uint64_t bytes_read = 0;      // file content read from sources
  uint64_t data_blobs_added = 0;
  uint64_t tree_blobs_added = 0;
  uint64_t bytes_added = 0;         // plaintext of new blobs
  uint64_t bytes_added_stored = 0;  // stored (compressed, sealed) size of new blobs
  uint64_t errors = 0;              // sources that could not be read
  bool operator==(const SnapshotStats&) const = default;
};

struct Snapshot {
  int64_t time_ns = 0;  // UTC, nanoseconds since the epoch
  std::string hostname;
  std::string username;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<std::string> tags;
  std::vector<std::string> paths;  // absolute source paths (and stream names)
  std::vector<std::string> excludes;
  Id parent;  // zero when none
  Id tree;
  std::string program_version;
  SnapshotStats stats;
  bool operator==(const Snapshot&) const = default;

  std::string Encode() const;
};

Result<Snapshot> DecodeSnapshot(std::string_view record);

// "2026-11-22 10:00:00" in local time (the CLI's --time and listings).
std::string FormatLocalTime(int64_t time_ns);
Result<int64_t> ParseLocalTime(const std::string& text);

}  // namespace jsnap

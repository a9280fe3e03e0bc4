#include "jsnap/snapshot.h"

#include <ctime>

#include "jsnap/record.h"

namespace jsnap {

namespace {
enum SnapshotTag : uint32_t {
  kTime = 1, kHostname = 2, kUsername = 3, kUid = 4, kGid = 5, kTag = 6, kPath = 7,
  kExclude = 8, kParent = 9, kTree = 10, kVersion = 11, kStats = 12,
};
// Stats fields: tag n holds the n-th counter, in the order of the struct.
uint64_t SnapshotStats::*const kStatFields[] = {
    &SnapshotStats::files_new,        &SnapshotStats::files_changed,
    &SnapshotStats::files_unmodified, &SnapshotStats::dirs,
    &SnapshotStats::other_nodes,      &SnapshotStats::total_bytes,
    &SnapshotStats::bytes_read,       &SnapshotStats::data_blobs_added,
    &SnapshotStats::tree_blobs_added, &SnapshotStats::bytes_added,
    &SnapshotStats::bytes_added_stored, &SnapshotStats::errors,
};
constexpr size_t kStatCount = sizeof(kStatFields) / sizeof(kStatFields[0]);
}  // namespace

std::string Snapshot::Encode() const {
  RecordWriter w;
  w.Int(kTime, time_ns);
  w.Bytes(kHostname, hostname);
  w.Bytes(kUsername, username);
  w.Uint(kUid, uid);
  w.Uint(kGid, gid);
  for (const auto& t : tags) w.Bytes(kTag, t);
  for (const auto& p : paths) w.Bytes(kPath, p);
  for (const auto& e : excludes) w.Bytes(kExclude, e);
  if (!parent.IsZero()) w.Bytes(kParent, parent.View());
  w.Bytes(kTree, tree.View());
  w.Bytes(kVersion, program_version);
  RecordWriter sw;
  for (size_t i = 0; i < kStatCount; ++i) sw.Uint(static_cast<uint32_t>(i + 1), stats.*kStatFields[i]);
  w.Bytes(kStats, sw.data());
  return w.Take();
}

Result<Snapshot> DecodeSnapshot(std::string_view record) {
  Snapshot s;
  bool has_tree = false;
  RecordReader r(record);
  while (r.Next()) {
    switch (r.tag()) {
      case kTime: s.time_ns = r.AsInt(); break;
      case kHostname: s.hostname = std::string(r.bytes()); break;
      case kUsername: s.username = std::string(r.bytes()); break;
      case kUid: s.uid = static_cast<uint32_t>(r.AsUint()); break;
      case kGid: s.gid = static_cast<uint32_t>(r.AsUint()); break;
      case kTag: s.tags.emplace_back(r.bytes()); break;
      case kPath: s.paths.emplace_back(r.bytes()); break;
      case kExclude: s.excludes.emplace_back(r.bytes()); break;
      case kParent:
      case kTree: {
        if (r.bytes().size() != Id::kSize) return Status::Corruption("snapshot: malformed tree id");
        (r.tag() == kTree ? s.tree : s.parent) = Id::FromBytes(r.bytes().data());
        has_tree |= r.tag() == kTree;
        break;
      }
      case kVersion: s.program_version = std::string(r.bytes()); break;
      case kStats: {
        RecordReader sr(r.bytes());
        while (sr.Next()) {
          if (sr.tag() >= 1 && sr.tag() <= kStatCount) s.stats.*kStatFields[sr.tag() - 1] = sr.AsUint();
        }
        RETURN_IF_ERROR(sr.status());
        break;
      }
      default: break;
    }
  }
  RETURN_IF_ERROR(r.status());
  if (!has_tree) return Status::Corruption("snapshot has no root tree");
  return s;
}

std::string FormatLocalTime(int64_t time_ns) {
  time_t secs = static_cast<time_t>(time_ns / 1000000000);
  struct tm tm;
  localtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

Result<int64_t> ParseLocalTime(const std::string& text) {
  struct tm tm = {};
  const char* end = strptime(text.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
  if (end == nullptr || *end != '\0') {
    return Status::InvalidArgument("time '" + text + "' is not in the form YYYY-MM-DD HH:MM:SS");
  }
  tm.tm_isdst = -1;
  time_t t = mktime(&tm);
  return static_cast<int64_t>(t) * 1000000000;
}

}  // namespace jsnap

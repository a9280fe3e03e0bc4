// Archiver: `jsnap create`. Walks the sources, stores new content as chunks
// and the directory structure as trees, and records a snapshot.
//
// Incremental: a file whose type, size, mtime, ctime and inode equal its node
// in the parent snapshot keeps that node's chunk list and is not opened.
// Content is chunked and stored by a pool of worker threads; the walk stays
// on the calling thread, fed directory listings by a SourceScan when one is
// given (StartSourceScan). Unreadable sources are reported through `warn` and
// left out; the snapshot is still written (the CLI exits 3).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "jsnap/exclude.h"
#include "jsnap/repository.h"

namespace jsnap {

// Counters a progress display reads while a create runs.
struct ArchiveProgress {
  std::atomic<uint64_t> files{0};
  std::atomic<uint64_t> dirs{0};
  std::atomic<uint64_t> bytes_done{0};     // bytes of files processed (read or unchanged)
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> bytes_added{0};
  std::atomic<uint64_t> errors{0};
};

// A source whose bytes come from a reader rather than a file on disk
// (standard input, a command's output).
struct StreamSource {
  std::string name;  // stored as the file `/<name>` (or at the absolute path given)
  // Fills `buf` with up to `cap` bytes; returns the count, 0 at the end.
  std::function<Result<size_t>(char* buf, size_t cap)> read;
  // Called after the stream ended; a non-OK status aborts the snapshot.
  std::function<Status()> finish;
};

struct ArchiveOptions {
  std::vector<std::string> paths;  // absolute, normalised
  std::vector<StreamSource> streams;
  // Live SQLite databases (absolute paths), imaged through SQLite (see
  // sqlite_source.h) wherever they appear, alone or inside a path above;
  // their -wal, -shm and -journal files are left out.
  std::vector<std::string> sqlite_paths;
  std::chrono::milliseconds sqlite_timeout{60000};
  uint64_t sqlite_chunk_size = 4096;  // bytes per chunk, rounded to pages
  // Run PRAGMA integrity_check on each stored image before the snapshot is
  // saved; a failure fails the run.
  bool verify_sqlite = false;
  ExcludeMatcher excludes;
  std::vector<std::string> tags;
  std::string hostname;
  int64_t time_ns = 0;
  bool one_file_system = false;
  bool dry_run = false;
  bool force_reread = false;  // ignore the parent's file metadata
  size_t threads = 0;         // 0: one per core
  std::function<void(const std::string&)> warn;
  ArchiveProgress* progress = nullptr;
};

struct ArchiveResult {
  Id snapshot_id;  // zero for a dry run
  Snapshot snapshot;
  bool has_parent = false;
  // Trees or entries of the parent snapshot that could not be read (each
  // reported through `warn`): what they held was read again, so the
  // snapshot is complete, but the repository is damaged (the CLI exits 3).
  uint64_t parent_unreadable = 0;
};

// Whether the sources fit together: a stream may not be named inside a path
// backed up, nor as a folder on the way to one, nor like another stream or
// a --sqlite database (one would hide the other). CreateSnapshot refuses
// them too; this lets a caller refuse them before starting anything.
Status CheckSources(const ArchiveOptions& opts);

// The scan of the sources' metadata (directory listings, stat data, link
// targets, xattrs), started ahead of a create on a thread of its own: it
// runs while the repository opens (the password's key derivation takes
// ~50 ms) and then ahead of the walk, which takes its listings instead of
// listing for itself. How far ahead it runs is bounded (listings and open
// directories). `repo_root` is the repository's directory, left out of the
// walk. Destroying it stops the scan. Null when no thread could be started
// (the walk then lists for itself).
class SourceScan;
std::shared_ptr<SourceScan> StartSourceScan(const ArchiveOptions& opts, const std::string& repo_root);

// `scan`, if given, was started with the same `opts` (the same paths,
// excludes, databases and --one-file-system) and the repository's root.
Result<ArchiveResult> CreateSnapshot(Repository& repo, const ArchiveOptions& opts,
                                     SourceScan* scan = nullptr);

// "/a/./b//c/../d" -> "/a/b/d", relative paths taken from the cwd. Symlinks
// are not resolved.
std::string NormalizePath(const std::string& path);

}  // namespace jsnap

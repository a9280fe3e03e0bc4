// SQLite sources: consistent online images of live databases, streamed as
// page-aligned chunks, and integrity checks of stored images.
//
// Imaging uses SQLite's own machinery: a connection to the database opens a
// read transaction, and the online backup API copies every page of that
// transaction's view into a destination database whose "file" is a custom
// VFS (`jsnap-stream`). Its writes never reach a disk: each completed chunk
// of pages goes to the sink. Writers keep working meanwhile (WAL mode) or
// wait for the copy (rollback-journal mode); the image is one committed
// transaction, never a torn mix.
//
// Thread-safety: functions may be called from several threads; each call
// uses its own connections.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "jsnap/status.h"
#include "jsnap/tree.h"

namespace jsnap {

struct SqliteImage {
  SqliteInfo info;
  uint64_t size = 0;  // page_size * page_count
  uint64_t chunk_size = 0;
};

// Receives chunk `index` (bytes [index * chunk_size, ...)) exactly once.
using ChunkSink = std::function<Status(uint64_t index, std::string data)>;

// Images the database at `path`. `chunk_target` bytes per chunk, rounded to
// whole pages (at least one). Errors name the database: InvalidArgument for
// a file that is not a database, Locked when it stays locked longer than
// `busy_timeout`, Corruption for a damaged one.
Result<SqliteImage> StreamSqliteImage(const std::string& path,
                                      std::chrono::milliseconds busy_timeout,
                                      uint64_t chunk_target, const ChunkSink& sink);

// Reads `len` bytes at `offset` of a stored image.
using ImageReader = std::function<Result<std::string>(uint64_t offset, size_t len)>;

// Runs `PRAGMA integrity_check` on a stored image of `size` bytes, reading
// pages through `read` (no copy on disk). OK when SQLite says "ok";
// Corruption with SQLite's findings otherwise.
Status CheckSqliteImage(const std::string& name, uint64_t size, const ImageReader& read);

// True when `path` starts with the SQLite header ("SQLite format 3\0").
bool LooksLikeSqlite(const std::string& path);

// Whether another process has the database at `path` open (holds one of
// SQLite's POSIX locks on it or on its -shm file).
bool SqliteInUse(const std::string& path);

}  // namespace jsnap

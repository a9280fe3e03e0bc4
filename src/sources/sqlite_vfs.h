// The two VFSes behind sqlite_source.cc (internal to the sources module):
//  - "jsnap-stream": a write-only database file that hands completed chunks
//    of pages to a sink instead of storing them (the backup destination);
//  - "jsnap-image": a read-only database file whose bytes come from a
//    reader (a stored image, checked in place).
// Files are bound to their state by name: Register*() returns a unique name
// to pass to sqlite3_open_v2, valid until the matching Unregister.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "jsnap/sqlite_source.h"

namespace jsnap::internal {

struct StreamState {
  uint64_t page_size = 0;
  uint64_t chunk_size = 0;
  uint64_t expected_size = 0;  // page_count * page_size of the source view
  uint64_t size = 0;           // as the destination pager sees it
  const ChunkSink* sink = nullptr;
  Status error;  // the first failure; SQLite sees an IO error

  struct Pending {
    std::string data;
    std::vector<bool> pages;
  };
  std::map<uint64_t, Pending> pending;
  std::vector<bool> emitted;

  // Emits whatever is still pending (chunk 0, which the commit rewrites, and
  // never-written pages such as SQLite's lock-byte page, as zeros), then
  // checks every chunk was emitted exactly once.
  Status Finish();
};

struct ImageState {
  uint64_t size = 0;
  const ImageReader* read = nullptr;
  Status error;
};

std::string RegisterStream(StreamState* state);
void UnregisterStream(const std::string& name);
std::string RegisterImage(ImageState* state);
void UnregisterImage(const std::string& name);

inline constexpr const char* kStreamVfs = "jsnap-stream";
inline constexpr const char* kImageVfs = "jsnap-image";

}  // namespace jsnap::internal

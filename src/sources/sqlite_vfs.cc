#include "sqlite_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>

namespace jsnap::internal {

namespace {

// SQLite's PENDING_BYTE: the page holding it is never written.
constexpr uint64_t kLockBytePage = 0x40000000;

std::mutex g_mu;
std::map<std::string, StreamState*> g_streams;
std::map<std::string, ImageState*> g_images;
std::atomic<uint64_t> g_counter{0};

sqlite3_vfs* Base() { return static_cast<sqlite3_vfs*>(sqlite3_vfs_find(nullptr)); }

// ---- jsnap-stream: the backup destination ---------------------------------

struct StreamFile {
  sqlite3_file base;
  StreamState* state;
};

StreamState* S(sqlite3_file* f) { return reinterpret_cast<StreamFile*>(f)->state; }

int Fail(StreamState* s, Status st) {
  if (s->error.ok()) s->error = std::move(st);
  return SQLITE_IOERR;
}

// Hands a finished chunk to the sink, once.
Status Emit(StreamState* s, uint64_t chunk, std::string data) {
  if (chunk >= s->emitted.size() || s->emitted[chunk]) {
    return Status::Corruption("sqlite image: chunk " + std::to_string(chunk) + " emitted twice or out of range");
  }
  s->emitted[chunk] = true;
  return (*s->sink)(chunk, std::move(data));
}

Status EmitIfComplete(StreamState* s, uint64_t chunk, bool force) {
  auto it = s->pending.find(chunk);
  if (it == s->pending.end()) return Status::Ok();
  const uint64_t start = chunk * s->chunk_size;
  const uint64_t len = std::min(s->chunk_size, s->expected_size - std::min(start, s->expected_size));
  const uint64_t pages = len / s->page_size;
  if (!force) {
    for (uint64_t p = 0; p < pages; ++p) {
      if (!it->second.pages[p]) return Status::Ok();
    }
  }
  // A page never written must be SQLite's lock-byte page (at 1 GiB), which
  // SQLite never uses; anything else missing is a bug, not a hole.
  for (uint64_t p = 0; p < pages; ++p) {
    if (!it->second.pages[p] && start + p * s->page_size != kLockBytePage) {
      return Status::Corruption("sqlite image: page at " + std::to_string(start + p * s->page_size) +
                                " was never written");
    }
  }
  std::string data = std::move(it->second.data);
  s->pending.erase(it);
  data.resize(len);
  return Emit(s, chunk, std::move(data));
}

int StreamWrite(sqlite3_file* f, const void* buf, int amt, sqlite3_int64 off) {
  StreamState* s = S(f);
  if (!s->error.ok()) return SQLITE_IOERR_WRITE;
  const uint64_t offset = static_cast<uint64_t>(off), n = static_cast<uint64_t>(amt);
  if (offset % s->page_size != 0 || n != s->page_size) {
    return Fail(s, Status::Corruption("sqlite image: unaligned write of " + std::to_string(n) +
                                      " bytes at " + std::to_string(offset)));
  }
  if (offset + n > s->expected_size) {
    return Fail(s, Status::Corruption("sqlite image: write beyond the database size"));
  }
  const uint64_t chunk = offset / s->chunk_size;
  if (s->emitted[chunk]) {
    return Fail(s, Status::Corruption("sqlite image: page at " + std::to_string(offset) +
                                      " written again after its chunk was stored"));
  }
  s->size = std::max(s->size, offset + n);
  if (s->chunk_size == n && chunk != 0) {
    // One page per chunk (the default): the write completes its chunk, so
    // it goes straight to the sink, with no pending entry to allocate.
    Status st = Emit(s, chunk, std::string(static_cast<const char*>(buf), n));
    return st.ok() ? SQLITE_OK : Fail(s, st);
  }
  auto& p = s->pending[chunk];
  if (p.data.empty()) {
    p.data.assign(s->chunk_size, '\0');
    p.pages.assign(s->chunk_size / s->page_size, false);
  }
  std::memcpy(p.data.data() + offset % s->chunk_size, buf, n);
  p.pages[(offset % s->chunk_size) / s->page_size] = true;
  // Chunk 0 holds the header, which the commit rewrites: it goes last.
  if (chunk != 0) {
    Status st = EmitIfComplete(s, chunk, false);
    if (!st.ok()) return Fail(s, st);
  }
  return SQLITE_OK;
}

int StreamRead(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  StreamState* s = S(f);
  const uint64_t offset = static_cast<uint64_t>(off), n = static_cast<uint64_t>(amt);
  std::memset(buf, 0, n);
  if (offset >= s->size) return SQLITE_IOERR_SHORT_READ;
  const uint64_t chunk = offset / s->chunk_size;
  auto it = s->pending.find(chunk);
  if (it == s->pending.end() || offset % s->chunk_size + n > s->chunk_size) {
    return Fail(s, Status::Corruption("sqlite image: page re-read after it was stored"));
  }
  std::memcpy(buf, it->second.data.data() + offset % s->chunk_size, n);
  return SQLITE_OK;
}

int StreamTruncate(sqlite3_file* f, sqlite3_int64 size) {
  S(f)->size = static_cast<uint64_t>(size);
  return SQLITE_OK;
}
int StreamFileSize(sqlite3_file* f, sqlite3_int64* size) {
  *size = static_cast<sqlite3_int64>(S(f)->size);
  return SQLITE_OK;
}

// ---- jsnap-image: a stored image, read in place ------------------------------

struct ImageFile {
  sqlite3_file base;
  ImageState* state;
};

ImageState* I(sqlite3_file* f) { return reinterpret_cast<ImageFile*>(f)->state; }

int ImageRead(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  ImageState* s = I(f);
  const uint64_t offset = static_cast<uint64_t>(off), n = static_cast<uint64_t>(amt);
  std::memset(buf, 0, n);
  if (offset >= s->size) return SQLITE_IOERR_SHORT_READ;
  const uint64_t len = std::min(n, s->size - offset);
  auto data = (*s->read)(offset, len);
  if (!data.ok()) {
    if (s->error.ok()) s->error = data.status();
    return SQLITE_IOERR_READ;
  }
  std::memcpy(buf, data->data(), data->size());
  return len < n ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}
int ImageWrite(sqlite3_file*, const void*, int, sqlite3_int64) { return SQLITE_READONLY; }
int ImageTruncate(sqlite3_file*, sqlite3_int64) { return SQLITE_READONLY; }
int ImageFileSize(sqlite3_file* f, sqlite3_int64* size) {
  *size = static_cast<sqlite3_int64>(I(f)->size);
  return SQLITE_OK;
}

// ---- shared no-ops ---------------------------------------------------------

int NoClose(sqlite3_file*) { return SQLITE_OK; }
int NoSync(sqlite3_file*, int) { return SQLITE_OK; }
int NoLock(sqlite3_file*, int) { return SQLITE_OK; }
int NoReserved(sqlite3_file*, int* out) {
  *out = 0;
  return SQLITE_OK;
}
int NoFileControl(sqlite3_file*, int, void*) { return SQLITE_NOTFOUND; }
int SectorSize(sqlite3_file*) { return 4096; }
int NoCharacteristics(sqlite3_file*) { return 0; }

const sqlite3_io_methods kStreamMethods = {
    1, NoClose, StreamRead, StreamWrite, StreamTruncate, NoSync, StreamFileSize, NoLock, NoLock,
    NoReserved, NoFileControl, SectorSize, NoCharacteristics, nullptr, nullptr, nullptr, nullptr,
    nullptr, nullptr};
const sqlite3_io_methods kImageMethods = {
    1, NoClose, ImageRead, ImageWrite, ImageTruncate, NoSync, ImageFileSize, NoLock, NoLock,
    NoReserved, NoFileControl, SectorSize, NoCharacteristics, nullptr, nullptr, nullptr, nullptr,
    nullptr, nullptr};

bool Ours(const char* name) {
  return name != nullptr && (std::strncmp(name, "jsnap-stream-", 13) == 0 ||
                             std::strncmp(name, "jsnap-image-", 12) == 0);
}

// Opens our main database files; everything else (temp files) goes to the
// default VFS, whose file struct fits in ours (szOsFile is the larger).
int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  if (name != nullptr && (flags & SQLITE_OPEN_MAIN_DB)) {
    std::lock_guard<std::mutex> lock(g_mu);
    if (auto it = g_streams.find(name); it != g_streams.end()) {
      reinterpret_cast<StreamFile*>(file)->state = it->second;
      file->pMethods = &kStreamMethods;
      if (out_flags) *out_flags = flags;
      return SQLITE_OK;
    }
    if (auto it = g_images.find(name); it != g_images.end()) {
      reinterpret_cast<ImageFile*>(file)->state = it->second;
      file->pMethods = &kImageMethods;
      if (out_flags) *out_flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_MAIN_DB;
      return SQLITE_OK;
    }
  }
  if (Ours(name)) return SQLITE_CANTOPEN;  // journals of ours: there are none
  sqlite3_vfs* base = Base();
  return base->xOpen(base, name, file, flags, out_flags);
}

int Delete(sqlite3_vfs*, const char* name, int sync) {
  if (Ours(name)) return SQLITE_OK;
  return Base()->xDelete(Base(), name, sync);
}

int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  if (Ours(name)) {
    *out = 0;  // no journal, no WAL, nothing beside our files
    return SQLITE_OK;
  }
  return Base()->xAccess(Base(), name, flags, out);
}

int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  if (Ours(name)) {
    sqlite3_snprintf(n, out, "%s", name);
    return SQLITE_OK;
  }
  return Base()->xFullPathname(Base(), name, n, out);
}

void RegisterVfsOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (const char* name : {kStreamVfs, kImageVfs}) {
      auto* v = new sqlite3_vfs(*Base());  // lives as long as the process
      v->zName = name;
      v->pNext = nullptr;
      v->szOsFile = std::max<int>(Base()->szOsFile,
                                  static_cast<int>(std::max(sizeof(StreamFile), sizeof(ImageFile))));
      v->xOpen = Open;
      v->xDelete = Delete;
      v->xAccess = Access;
      v->xFullPathname = FullPathname;
      sqlite3_vfs_register(v, 0);
    }
  });
}

}  // namespace

Status StreamState::Finish() {
  // A chunk that holds only the lock-byte page got no write at all.
  const uint64_t lock_chunk = kLockBytePage / chunk_size;
  if (kLockBytePage < expected_size && !emitted[lock_chunk] && !pending.count(lock_chunk)) {
    auto& p = pending[lock_chunk];
    p.data.assign(chunk_size, '\0');
    p.pages.assign(chunk_size / page_size, false);
  }
  std::vector<uint64_t> left;
  for (const auto& [chunk, p] : pending) left.push_back(chunk);
  for (uint64_t chunk : left) RETURN_IF_ERROR(EmitIfComplete(this, chunk, true));
  for (size_t i = 0; i < emitted.size(); ++i) {
    if (!emitted[i]) {
      return Status::Corruption("sqlite image: chunk " + std::to_string(i) + " was never written");
    }
  }
  return Status::Ok();
}

std::string RegisterStream(StreamState* state) {
  RegisterVfsOnce();
  const std::string name = "jsnap-stream-" + std::to_string(++g_counter);
  std::lock_guard<std::mutex> lock(g_mu);
  g_streams[name] = state;
  return name;
}

void UnregisterStream(const std::string& name) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_streams.erase(name);
}

std::string RegisterImage(ImageState* state) {
  RegisterVfsOnce();
  const std::string name = "jsnap-image-" + std::to_string(++g_counter);
  std::lock_guard<std::mutex> lock(g_mu);
  g_images[name] = state;
  return name;
}

void UnregisterImage(const std::string& name) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_images.erase(name);
}

}  // namespace jsnap::internal

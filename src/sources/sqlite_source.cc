#include "jsnap/sqlite_source.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "jsnap/crypto.h"
#include "jsnap/file_util.h"
#include "sqlite_vfs.h"

namespace jsnap {

namespace {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

// Maps an SQLite error to a Status that names the database.
Status DbError(sqlite3* db, int rc, const std::string& path, std::chrono::milliseconds timeout) {
  const std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
      return Status::InvalidArgument(path + " is not a SQLite database (" + msg + ")");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Locked(path + " stayed locked by another process for more than " +
                            std::to_string(timeout.count()) + " ms (raise --sqlite-timeout)");
    case SQLITE_CORRUPT:
      return Status::Corruption(path + " is damaged: " + msg);
    case SQLITE_CANTOPEN:
      return Status::NotFound("cannot open " + path + ": " + msg);
    default:
      return Status::IOError(path + ": " + msg);
  }
}

Result<std::string> QueryText(sqlite3* db, const char* sql, const std::string& path,
                              std::chrono::milliseconds timeout) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return DbError(db, rc, path, timeout);
  std::string out;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const auto* text = sqlite3_column_blob(stmt, 0);
    out.append(static_cast<const char*>(text ? text : ""), static_cast<size_t>(sqlite3_column_bytes(stmt, 0)));
    out.push_back('\n');
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return DbError(db, rc, path, timeout);
  if (!out.empty()) out.pop_back();
  return out;
}

}  // namespace

Result<SqliteImage> StreamSqliteImage(const std::string& path, std::chrono::milliseconds busy_timeout,
                                      uint64_t chunk_target, const ChunkSink& sink) {
  if (!LooksLikeSqlite(path)) {
    if (!PathExists(path)) return Status::NotFound("SQLite database " + path + " does not exist");
    return Status::InvalidArgument(path + " is not a SQLite database (no SQLite header)");
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  Db src(raw);
  if (rc != SQLITE_OK) return DbError(raw, rc, path, busy_timeout);
  sqlite3_busy_timeout(src.get(), static_cast<int>(busy_timeout.count()));

  // One read transaction for everything below: the metadata and the pages
  // the backup copies are the same committed state.
  rc = sqlite3_exec(src.get(), "BEGIN", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return DbError(src.get(), rc, path, busy_timeout);
  SqliteImage image;
  ASSIGN_OR_RETURN(std::string schema,
                   QueryText(src.get(),
                             "SELECT type || char(0) || name || char(0) || tbl_name || char(0) || "
                             "ifnull(sql, '') FROM sqlite_schema ORDER BY type, name",
                             path, busy_timeout));
  ASSIGN_OR_RETURN(std::string page_size, QueryText(src.get(), "PRAGMA page_size", path, busy_timeout));
  ASSIGN_OR_RETURN(std::string page_count, QueryText(src.get(), "PRAGMA page_count", path, busy_timeout));
  ASSIGN_OR_RETURN(std::string journal, QueryText(src.get(), "PRAGMA journal_mode", path, busy_timeout));
  ASSIGN_OR_RETURN(std::string user_version, QueryText(src.get(), "PRAGMA user_version", path, busy_timeout));
  image.info.page_size = static_cast<uint32_t>(std::stoul(page_size));
  image.info.page_count = std::stoull(page_count);
  image.info.journal_mode = journal;
  image.info.schema_fingerprint = PlainHash(schema);
  image.info.user_version = std::stoll(user_version);
  image.size = uint64_t{image.info.page_size} * image.info.page_count;
  const uint64_t pages_per_chunk = std::max<uint64_t>(1, chunk_target / image.info.page_size);
  image.chunk_size = pages_per_chunk * image.info.page_size;

  internal::StreamState state;
  state.page_size = image.info.page_size;
  state.chunk_size = image.chunk_size;
  state.expected_size = image.size;
  state.sink = &sink;
  state.emitted.assign((image.size + image.chunk_size - 1) / image.chunk_size, false);
  const std::string name = internal::RegisterStream(&state);
  struct Unregister {
    std::string n;
    ~Unregister() { internal::UnregisterStream(n); }
  } unregister{name};

  rc = sqlite3_open_v2(name.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, internal::kStreamVfs);
  Db dest(raw);
  if (rc != SQLITE_OK) return Status::IOError("sqlite image of " + path + ": " + sqlite3_errmsg(raw));
  // No journal: the destination is written once, front to back, and
  // nothing is ever rolled back into it.
  sqlite3_exec(dest.get(), "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-1024",
               nullptr, nullptr, nullptr);
  sqlite3_backup* backup = sqlite3_backup_init(dest.get(), "main", src.get(), "main");
  if (backup == nullptr) {
    return Status::IOError("sqlite image of " + path + ": " + sqlite3_errmsg(dest.get()));
  }
  rc = sqlite3_backup_step(backup, -1);
  const int finish_rc = sqlite3_backup_finish(backup);
  sqlite3_exec(src.get(), "COMMIT", nullptr, nullptr, nullptr);
  RETURN_IF_ERROR(state.error.WithContext("SQLite database " + path));
  if (rc != SQLITE_DONE) return DbError(src.get(), rc, path, busy_timeout);
  if (finish_rc != SQLITE_OK) return DbError(dest.get(), finish_rc, path, busy_timeout);
  RETURN_IF_ERROR(state.Finish().WithContext("SQLite database " + path));
  return image;
}

Status CheckSqliteImage(const std::string& name, uint64_t size, const ImageReader& read) {
  internal::ImageState state;
  state.size = size;
  state.read = &read;
  const std::string vname = internal::RegisterImage(&state);
  struct Unregister {
    std::string n;
    ~Unregister() { internal::UnregisterImage(n); }
  } unregister{vname};
  sqlite3* raw = nullptr;
  const std::string uri = "file:" + vname + "?immutable=1";
  int rc = sqlite3_open_v2(uri.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, internal::kImageVfs);
  Db db(raw);
  if (rc != SQLITE_OK) return Status::Corruption(name + ": cannot open the stored image: " + sqlite3_errmsg(raw));
  auto result = QueryText(db.get(), "PRAGMA integrity_check", name, std::chrono::milliseconds(0));
  RETURN_IF_ERROR(state.error.WithContext(name));
  if (!result.ok()) return Status::Corruption(name + ": integrity_check failed: " + result.status().message());
  if (result.value() != "ok") return Status::Corruption(name + ": integrity_check: " + result.value());
  return Status::Ok();
}

bool LooksLikeSqlite(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return false;
  char header[16];
  return ::pread(fd.get(), header, sizeof(header), 0) == sizeof(header) &&
         std::memcmp(header, "SQLite format 3", 16) == 0;
}

bool SqliteInUse(const std::string& path) {
  auto locked = [](const std::string& file, off_t start, off_t len) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return false;
    struct flock fl = {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    return ::fcntl(fd.get(), F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
  };
  // SQLite's lock bytes at 1 GiB (pending, reserved, shared range), and the
  // -shm file's lock slots, which every WAL connection holds while open.
  return locked(path, 0x40000000, 2 + 510) || locked(path + "-shm", 120, 9);
}

}  // namespace jsnap

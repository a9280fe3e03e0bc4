// Backend: where a repository's files live. Five verbs, so local disk, S3 and
// rclone remotes are interchangeable and tests can wrap one to inject faults.
//
// Files are named by type and name (see format-spec.md, "Layout"):
//   config            kConfig, name ""
//   keys/<id>         kKey
//   snapshots/<id>    kSnapshot
//   data/<id[0:2]>/<id> kPack
// Contract:
// - Save is atomic and durable: after OK the whole file is stored and
//   survives a crash; after an error or a crash nothing partial is visible
//   under the name. Saving a name that exists replaces it (only the config
//   is ever replaced; content-addressed names never change content).
// - Load returns NotFound for a missing file, Corruption when the file is
//   shorter than offset + length.
// - List calls `fn` once per file of the type, in no particular order.
// - Remove of a missing file is NotFound.
// - An upload (StartUpload) is a Save written piece by piece: nothing is
//   visible until Commit, which then gives Save's guarantees; an upload
//   destroyed uncommitted leaves nothing under any name.
// Thread-safety: implementations are safe for concurrent calls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "jsnap/status.h"

namespace jsnap {

enum class FileType { kConfig, kKey, kSnapshot, kPack };

struct FileHandle {
  FileType type;
  std::string name;
  std::string ToString() const;
};

// A file written in pieces and named once complete: a pack's name is the
// hash of its header, known only at its end, and buffering a whole pack
// (16 MiB, two of them while one is written) was most of a create's memory.
class BackendUpload {
 public:
  virtual ~BackendUpload() = default;
  // Stores `data` at `offset`. Pieces may come in any order and from several
  // threads at once, but never overlap.
  virtual Status WriteAt(uint64_t offset, std::string_view data) = 0;
  // Makes the written bytes the durable file `h` (as Save would); after an
  // error nothing is visible under the name. Once per upload.
  virtual Status Commit(const FileHandle& h) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Status Save(const FileHandle& h, std::string_view data) = 0;
  // length 0 means "to the end of the file".
  virtual Result<std::string> Load(const FileHandle& h, uint64_t offset = 0, uint64_t length = 0) = 0;
  // Load into `out`, reusing its buffer (a reader of many packs faults in
  // one buffer, not one per pack).
  virtual Status LoadInto(const FileHandle& h, uint64_t offset, uint64_t length, std::string* out) {
    ASSIGN_OR_RETURN(*out, Load(h, offset, length));
    return Status::Ok();
  }
  // Starts an upload of a file of `type`. The default gathers the pieces in
  // memory and Saves them at Commit; backends that can write in place
  // (a local disk) keep only the piece being written in memory.
  virtual Result<std::unique_ptr<BackendUpload>> StartUpload(FileType type);
  virtual Result<uint64_t> Size(const FileHandle& h) = 0;
  // A hint that `h` will be read whole soon: a local disk starts reading it
  // into the page cache (memory that is not ours); others may ignore it.
  virtual void Prefetch(const FileHandle& h) { (void)h; }
  virtual Status List(FileType type,
                      const std::function<void(const std::string& name, uint64_t size)>& fn) = 0;
  virtual Status Remove(const FileHandle& h) = 0;
  // Removes what uploads and saves cut short (kill -9, a crash) left behind,
  // and returns how many: on a local disk, ".tmp-*" files in data/,
  // snapshots/ and keys/. Only for a process no other writer runs beside
  // (the append or the exclusive lock): another writer's upload in progress
  // would go with them.
  virtual Result<size_t> RemoveInterruptedUploads() { return size_t{0}; }
  // Human-readable location for messages ("/srv/backup", "s3:bucket/prefix").
  virtual std::string Location() const = 0;
};

// A directory on a local (or NFS-mounted) file system.
std::unique_ptr<Backend> NewLocalBackend(const std::string& root);
// Creates the directory layout (root, keys/, snapshots/, data/00..ff, locks/).
Status CreateLocalLayout(const std::string& root);

}  // namespace jsnap

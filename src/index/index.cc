#include "jsnap/index.h"

#include <rocksdb/db.h>
#include <rocksdb/env_encryption.h>
#include <sodium.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <sys/stat.h>

#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <set>

#include "jsnap/record.h"

namespace jsnap {

namespace {

constexpr char kBlobPrefix = 'b';
constexpr char kPackPrefix = 'p';
constexpr char kSnapshotPrefix = 's';
constexpr size_t kBlobValueSize = Id::kSize + 4 + 4 + 4 + 1;

std::string Key(char prefix, const Id& id) {
  std::string k(1, prefix);
  k.append(id.View());
  return k;
}

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(p[i]);
  return v;
}

std::string EncodeLocation(const BlobLocation& loc) {
  std::string v(kBlobValueSize, '\0');
  std::memcpy(v.data(), loc.pack.bytes.data(), Id::kSize);
  PutU32(v.data() + 32, loc.offset);
  PutU32(v.data() + 36, loc.length);
  PutU32(v.data() + 40, loc.raw_length);
  v[44] = static_cast<char>(loc.type);
  return v;
}

Result<BlobLocation> DecodeLocation(std::string_view v) {
  if (v.size() != kBlobValueSize) return Status::Corruption("index: malformed blob entry");
  BlobLocation loc;
  loc.pack = Id::FromBytes(v.data());
  loc.offset = GetU32(v.data() + 32);
  loc.length = GetU32(v.data() + 36);
  loc.raw_length = GetU32(v.data() + 40);
  loc.type = static_cast<BlobType>(v[44]);
  return loc;
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  if (s.IsNoSpace()) return Status::NoSpace("index: " + what + ": " + s.ToString());
  if (s.IsCorruption()) {
    return Status::Corruption("index: " + what + ": " + s.ToString() +
                              " (run 'jsnap repair index' to rebuild it)");
  }
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return Status::Locked("index is in use by another jsnap process: " + s.ToString());
  }
  return Status::IOError("index: " + what + ": " + s.ToString());
}

// The block function of RocksDB's CTR mode: keystream block = keyed
// BLAKE2b-512(counter block). CTR only ever runs the cipher forward, so a
// PRF is all it needs; RocksDB stores a random IV and counter per file.
class Blake2bPrf : public rocksdb::BlockCipher {
 public:
  explicit Blake2bPrf(const KeyBytes& key) : key_(key) {}
  ~Blake2bPrf() override { sodium_memzero(key_.data(), key_.size()); }
  const char* Name() const override { return "jsnap-blake2b-prf"; }
  size_t BlockSize() override { return 64; }
  rocksdb::Status Encrypt(char* data) override {
    uint8_t out[64];
    crypto_generichash(out, sizeof(out), reinterpret_cast<const uint8_t*>(data), 64, key_.data(),
                       key_.size());
    std::memcpy(data, out, sizeof(out));
    return rocksdb::Status::OK();
  }
  rocksdb::Status Decrypt(char*) override {
    return rocksdb::Status::NotSupported("a PRF has no inverse; CTR mode does not need one");
  }

 private:
  KeyBytes key_;
};

class RocksIndex : public Index {
 public:
  RocksIndex(std::unique_ptr<rocksdb::Env> env, std::unique_ptr<rocksdb::DB> db, bool read_only)
      : env_(std::move(env)), db_(std::move(db)), read_only_(read_only) {}
  ~RocksIndex() override {
    // The index is small: its memtable rarely fills, and without a flush
    // every later open (each command) replays the whole write-ahead log,
    // which grows with the repository. A writer leaves it flushed.
    if (!read_only_) (void)db_->Flush(rocksdb::FlushOptions());
    db_.reset();  // close before the env goes
  }

  Result<std::optional<BlobLocation>> Find(const Id& blob) override {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Key(kBlobPrefix, blob), &value);
    if (s.IsNotFound()) return std::optional<BlobLocation>();
    RETURN_IF_ERROR(FromRocks(s, "lookup"));
    ASSIGN_OR_RETURN(BlobLocation loc, DecodeLocation(value));
    return std::optional<BlobLocation>(loc);
  }

  Status AddPack(const PackInfo& pack) override {
    std::lock_guard<std::mutex> lock(add_mu_);
    rocksdb::WriteBatch batch;
    for (const PackEntry& e : pack.entries) {
      const std::string key = Key(kBlobPrefix, e.id);
      // A blob stored in several packs (an interrupted run, a race) is
      // indexed at the pack with the smallest id, whatever the order packs
      // are added in, so a rebuilt index gives the same answers.
      std::string existing;
      if (db_->Get(rocksdb::ReadOptions(), key, &existing).ok() &&
          existing.size() == kBlobValueSize &&
          std::memcmp(existing.data(), pack.id.bytes.data(), Id::kSize) < 0) {
        continue;
      }
      BlobLocation loc{pack.id, e.type, e.offset, e.length, e.raw_length};
      batch.Put(key, EncodeLocation(loc));
    }
    batch.Put(Key(kPackPrefix, pack.id), EncodePackInfo(pack));
    return Write(&batch, "add pack " + pack.id.Hex());
  }

  Status RemovePack(const Id& pack) override {
    ASSIGN_OR_RETURN(std::optional<PackInfo> info, GetPack(pack));
    rocksdb::WriteBatch batch;
    if (info) {
      for (const PackEntry& e : info->entries) {
        ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, Find(e.id));
        if (loc && loc->pack == pack) batch.Delete(Key(kBlobPrefix, e.id));
      }
    }
    batch.Delete(Key(kPackPrefix, pack));
    return Write(&batch, "remove pack " + pack.Hex());
  }

  Status ReplacePacks(const std::vector<Id>& removed, const std::vector<PackInfo>& added) override {
    std::lock_guard<std::mutex> lock(add_mu_);
    const std::set<Id> gone(removed.begin(), removed.end());
    std::map<Id, std::optional<BlobLocation>> final;  // blob -> new entry (none: delete)
    for (const Id& pack : removed) {
      ASSIGN_OR_RETURN(std::optional<PackInfo> info, GetPack(pack));
      if (!info) continue;
      for (const PackEntry& e : info->entries) {
        ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, Find(e.id));
        if (loc && gone.count(loc->pack)) final.emplace(e.id, std::nullopt);
      }
    }
    for (const PackInfo& pack : added) {
      for (const PackEntry& e : pack.entries) {
        BlobLocation loc{pack.id, e.type, e.offset, e.length, e.raw_length};
        auto it = final.find(e.id);
        if (it != final.end()) {
          if (!it->second || loc.pack < it->second->pack) it->second = loc;
          continue;
        }
        ASSIGN_OR_RETURN(std::optional<BlobLocation> cur, Find(e.id));
        if (!cur || gone.count(cur->pack) || loc.pack < cur->pack) final[e.id] = loc;
      }
    }
    rocksdb::WriteBatch batch;
    for (const auto& [id, loc] : final) {
      if (loc) batch.Put(Key(kBlobPrefix, id), EncodeLocation(*loc));
      else batch.Delete(Key(kBlobPrefix, id));
    }
    for (const Id& pack : removed) batch.Delete(Key(kPackPrefix, pack));
    for (const PackInfo& pack : added) batch.Put(Key(kPackPrefix, pack.id), EncodePackInfo(pack));
    return Write(&batch, "replace " + std::to_string(removed.size()) + " packs");
  }

  Result<std::optional<PackInfo>> GetPack(const Id& pack) override {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Key(kPackPrefix, pack), &value);
    if (s.IsNotFound()) return std::optional<PackInfo>();
    RETURN_IF_ERROR(FromRocks(s, "read pack entry"));
    ASSIGN_OR_RETURN(PackInfo info, DecodePackInfo(pack, value));
    return std::optional<PackInfo>(std::move(info));
  }

  Status ForEachPack(const std::function<void(const PackInfo&)>& fn) override {
    return Scan(kPackPrefix, [&](const Id& id, std::string_view v) -> Status {
      ASSIGN_OR_RETURN(PackInfo info, DecodePackInfo(id, v));
      fn(info);
      return Status::Ok();
    });
  }

  Status ForEachBlob(const std::function<void(const Id&, const BlobLocation&)>& fn) override {
    return Scan(kBlobPrefix, [&](const Id& id, std::string_view v) -> Status {
      ASSIGN_OR_RETURN(BlobLocation loc, DecodeLocation(v));
      fn(id, loc);
      return Status::Ok();
    });
  }

  Status PutSnapshot(const Id& id, const std::string& record) override {
    rocksdb::WriteBatch batch;
    batch.Put(Key(kSnapshotPrefix, id), record);
    return Write(&batch, "add snapshot " + id.Hex());
  }

  Status RemoveSnapshot(const Id& id) override {
    rocksdb::WriteBatch batch;
    batch.Delete(Key(kSnapshotPrefix, id));
    return Write(&batch, "remove snapshot " + id.Hex());
  }

  Status ForEachSnapshot(const std::function<void(const Id&, const std::string&)>& fn) override {
    return Scan(kSnapshotPrefix, [&](const Id& id, std::string_view v) -> Status {
      fn(id, std::string(v));
      return Status::Ok();
    });
  }

 private:
  Status Write(rocksdb::WriteBatch* batch, const std::string& what) {
    rocksdb::WriteOptions wo;
    wo.sync = true;  // the index must never lag behind a snapshot that needs it
    return FromRocks(db_->Write(wo, batch), what);
  }

  Status Scan(char prefix, const std::function<Status(const Id&, std::string_view)>& fn) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    const std::string start(1, prefix);
    for (it->Seek(start); it->Valid(); it->Next()) {
      rocksdb::Slice k = it->key();
      if (k.size() == 0 || k[0] != prefix) break;
      if (k.size() != 1 + Id::kSize) return Status::Corruption("index: malformed key");
      RETURN_IF_ERROR(fn(Id::FromBytes(k.data() + 1), std::string_view(it->value().data(), it->value().size())));
    }
    return FromRocks(it->status(), "scan");
  }

  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<rocksdb::DB> db_;
  bool read_only_;
  std::mutex add_mu_;  // AddPack reads then writes blob entries
};

rocksdb::Options MakeOptions() {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.compression = rocksdb::kNoCompression;  // keys are hashes: nothing to gain
  // Small buffers: a create adds ~100 bytes per new blob, and lookups are
  // served by Bloom filters and a bounded cache. Peak RSS stays low and
  // independent of the repository's size.
  o.write_buffer_size = 4 << 20;
  // A create looks up every new chunk before adding it: most lookups miss,
  // and a Bloom filter over the memtable answers those without a skiplist
  // search.
  o.memtable_prefix_bloom_size_ratio = 0.05;
  o.memtable_whole_key_filtering = true;
  o.max_open_files = 256;
  o.keep_log_file_num = 2;
  o.max_background_jobs = 2;
  // No preallocation of the WAL (RocksDB would fallocate ~1.1x the write
  // buffer): on a nearly full disk that space is what a backup needs.
  o.allow_fallocate = false;
  rocksdb::BlockBasedTableOptions t;
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Bounded cache: index memory stays flat however many blobs there are.
  t.block_cache = rocksdb::NewLRUCache(8 << 20);
  t.cache_index_and_filter_blocks = true;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

}  // namespace

std::string EncodePackInfo(const PackInfo& info) {
  RecordWriter w;
  w.Uint(1, info.size);
  w.Int(3, info.last_verified_ns);
  w.Bytes(4, EncodePackHeader(info.entries));
  return w.Take();
}

Result<PackInfo> DecodePackInfo(const Id& id, std::string_view record) {
  PackInfo info;
  info.id = id;
  RecordReader r(record);
  std::string_view header;
  while (r.Next()) {
    switch (r.tag()) {
      case 1: info.size = r.AsUint(); break;
      case 3: info.last_verified_ns = r.AsInt(); break;
      case 4: header = r.bytes(); break;
      default: break;
    }
  }
  RETURN_IF_ERROR(r.status().WithContext("index entry of pack " + id.Hex()));
  ASSIGN_OR_RETURN(info.entries, DecodePackHeader(header, info.size));
  return info;
}

Result<std::unique_ptr<Index>> Index::Open(const std::string& path, const KeyBytes& key,
                                           bool read_only) {
  auto provider = rocksdb::EncryptionProvider::NewCTRProvider(std::make_shared<Blake2bPrf>(key));
  std::unique_ptr<rocksdb::Env> env(rocksdb::NewEncryptedEnv(rocksdb::Env::Default(), provider));
  rocksdb::Options o = MakeOptions();
  o.env = env.get();
  // A reader may run beside a writer whose compactions delete table files:
  // opening them all now keeps them readable for the reader's lifetime.
  if (read_only) o.max_open_files = -1;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  // A reader opening beside a writer can catch the writer between writing
  // a new manifest and deleting old files; that resolves within moments.
  for (int attempt = 0;; ++attempt) {
    s = read_only ? rocksdb::DB::OpenForReadOnly(o, path, &raw) : rocksdb::DB::Open(o, path, &raw);
    if (s.ok() || !read_only || attempt == 20 || !(s.IsIOError() || s.IsNotFound() || s.IsCorruption())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  RETURN_IF_ERROR(FromRocks(s, "open " + path));
  if (!read_only) ::chmod(path.c_str(), 0700);  // like the rest of the repository
  return std::unique_ptr<Index>(new RocksIndex(std::move(env), std::unique_ptr<rocksdb::DB>(raw), read_only));
}

Status DestroyIndex(const std::string& path) {
  return FromRocks(rocksdb::DestroyDB(path, MakeOptions()), "destroy " + path);
}

}  // namespace jsnap

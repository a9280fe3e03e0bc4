#include "jsnap/index.h"

#include <rocksdb/db.h>
#include <rocksdb/env_encryption.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/metadata.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <algorithm>

#include "index_encryption.h"
#include "jsnap/record.h"

namespace jsnap {

namespace {

constexpr char kBlobPrefix = 'b';
constexpr char kPackPrefix = 'p';
constexpr char kPackNumberPrefix = 'n';
constexpr char kSnapshotPrefix = 's';
// pack number u32le | offset u32le | length u32le | raw u32le | type u8
constexpr size_t kBlobValueSize = 4 + 4 + 4 + 4 + 1;

std::string Key(char prefix, const Id& id) {
  std::string k(1, prefix);
  k.append(id.View());
  return k;
}

// 'n' + pack number, big-endian so that the last key holds the largest.
std::string NumberKey(uint32_t number) {
  std::string k(1, kPackNumberPrefix);
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>(number >> (8 * i)));
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

// A blob entry as stored: the pack by its number in this index.
struct StoredLocation {
  uint32_t pack_number = 0;
  BlobType type = BlobType::kData;
  uint32_t offset = 0, length = 0, raw_length = 0;
};

std::string EncodeLocation(uint32_t pack_number, const PackEntry& e) {
  std::string v(kBlobValueSize, '\0');
  PutU32(v.data(), pack_number);
  PutU32(v.data() + 4, e.offset);
  PutU32(v.data() + 8, e.length);
  PutU32(v.data() + 12, e.raw_length);
  v[16] = static_cast<char>(e.type);
  return v;
}

Result<StoredLocation> DecodeLocation(std::string_view v) {
  if (v.size() != kBlobValueSize) return Status::Corruption("index: malformed blob entry");
  StoredLocation loc;
  loc.pack_number = GetU32(v.data());
  loc.offset = GetU32(v.data() + 4);
  loc.length = GetU32(v.data() + 8);
  loc.raw_length = GetU32(v.data() + 12);
  loc.type = static_cast<BlobType>(v[16]);
  return loc;
}

// 'p' record: what the index knows of a pack besides its blobs.
struct PackRecord {
  uint32_t number = 0;
  uint64_t size = 0;
  uint32_t header_entries = 0;
};

std::string EncodePackRecord(const PackRecord& r) {
  RecordWriter w;
  w.Uint(1, r.size);
  w.Uint(5, r.number);
  w.Uint(6, r.header_entries);
  return w.Take();
}

Result<PackRecord> DecodePackRecord(const Id& id, std::string_view record) {
  PackRecord out;
  bool has_number = false;
  RecordReader r(record);
  while (r.Next()) {
    switch (r.tag()) {
      case 1: out.size = r.AsUint(); break;
      case 5: out.number = static_cast<uint32_t>(r.AsUint()); has_number = true; break;
      case 6: out.header_entries = static_cast<uint32_t>(r.AsUint()); break;
      default: break;
    }
  }
  RETURN_IF_ERROR(r.status().WithContext("index entry of pack " + id.Hex()));
  if (!has_number) {
    return Status::Corruption("index entry of pack " + id.Hex() +
                              " has no pack number (an index from an older jsnap; run 'jsnap "
                              "repair index')");
  }
  return out;
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

  // Why (the contract is in index.h): a table that overlaps no other moves
  // down a level whole instead of being merged (RocksDB's trivial move), so
  // the tiny table of each writer's session stayed: an index of 1.3 MB had
  // 101 after 200 creates, all opened by every command. After a merge the
  // next comes at most once per 4 MiB of index per create since the last.
  void MergeSmallTables() override {
    if (read_only_) return;
    (void)db_->Flush(rocksdb::FlushOptions());  // this session's table counts too
    constexpr size_t kMinTables = 16;
    constexpr uint64_t kBytesPerTable = 4 << 20;
    std::vector<rocksdb::LiveFileMetaData> tables;
    db_->GetLiveFilesMetaData(&tables);
    uint64_t bytes = 0;
    for (const rocksdb::LiveFileMetaData& t : tables) bytes += t.size;
    if (tables.size() <= kMinTables || tables.size() <= bytes / kBytesPerTable) return;
    rocksdb::CompactRangeOptions o;
    // Without it, tables already at the lowest level are left as they are.
    o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    (void)db_->CompactRange(o, nullptr, nullptr);  // an optimisation: the index is whole either way
  }

  Status Init() {
    // The next pack number: one past the largest in use.
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    it->SeekForPrev(NumberKey(UINT32_MAX));
    if (it->Valid() && it->key().size() == 5 && it->key()[0] == kPackNumberPrefix) {
      uint32_t last = 0;
      for (int i = 1; i <= 4; ++i) last = last << 8 | static_cast<uint8_t>(it->key()[i]);
      if (last == UINT32_MAX) return Status::Corruption("index: pack numbers exhausted (run 'jsnap repair index')");
      next_number_ = last + 1;
    }
    return FromRocks(it->status(), "open");
  }

  Result<std::optional<BlobLocation>> Find(const Id& blob) override {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Key(kBlobPrefix, blob), &value);
    if (s.IsNotFound()) return std::optional<BlobLocation>();
    RETURN_IF_ERROR(FromRocks(s, "lookup"));
    ASSIGN_OR_RETURN(StoredLocation stored, DecodeLocation(value));
    ASSIGN_OR_RETURN(BlobLocation loc, Resolve(stored));
    return std::optional<BlobLocation>(loc);
  }

  Status AddPack(const PackInfo& pack) override {
    std::lock_guard<std::mutex> lock(add_mu_);
    rocksdb::WriteBatch batch;
    ASSIGN_OR_RETURN(std::optional<PackRecord> existing_pack, GetPackRecord(pack.id));
    if (existing_pack) return Status::Ok();  // indexed already (a sync racing a writer)
    const uint32_t number = next_number_++;
    for (const PackEntry& e : pack.entries) {
      const std::string key = Key(kBlobPrefix, e.id);
      // A blob stored in several packs (an interrupted run, a race) is
      // indexed at the pack with the smallest id, whatever the order packs
      // are added in, so a rebuilt index gives the same answers.
      // An entry that does not resolve (a damaged index) is replaced.
      Result<std::optional<BlobLocation>> existing = Find(e.id);
      if (existing.ok() && existing.value() && existing.value()->pack < pack.id) continue;
      batch.Put(key, EncodeLocation(number, e));
    }
    PutPack(&batch, number, pack);
    RETURN_IF_ERROR(Write(&batch, "add pack " + pack.id.Hex()));
    Remember(number, pack.id);
    return Status::Ok();
  }

  Status ReplacePacks(const std::vector<Id>& removed, const std::vector<PackInfo>& added) override {
    std::lock_guard<std::mutex> lock(add_mu_);
    std::map<uint32_t, Id> gone;  // by number
    for (const Id& pack : removed) {
      ASSIGN_OR_RETURN(std::optional<PackRecord> rec, GetPackRecord(pack));
      if (rec) gone.emplace(rec->number, pack);
    }
    // Blob entries name packs by number only: one scan finds those that
    // point into a removed pack (prune scans every blob anyway).
    std::map<Id, std::optional<std::pair<Id, PackEntry>>> final;  // blob -> new place (none: delete)
    if (!gone.empty()) {
      RETURN_IF_ERROR(Scan(kBlobPrefix, [&](const Id& id, std::string_view v) -> Status {
        ASSIGN_OR_RETURN(StoredLocation loc, DecodeLocation(v));
        if (gone.count(loc.pack_number)) final.emplace(id, std::nullopt);
        return Status::Ok();
      }));
    }
    for (const PackInfo& pack : added) {
      for (const PackEntry& e : pack.entries) {
        auto it = final.find(e.id);
        if (it != final.end()) {
          if (!it->second || pack.id < it->second->first) it->second = std::make_pair(pack.id, e);
          continue;
        }
        // (A blob in a removed pack is in `final` already, from the scan.)
        ASSIGN_OR_RETURN(std::optional<BlobLocation> cur, Find(e.id));
        if (!cur || pack.id < cur->pack) final[e.id] = std::make_pair(pack.id, e);
      }
    }
    rocksdb::WriteBatch batch;
    std::map<Id, uint32_t> numbers;
    for (const PackInfo& pack : added) {
      const uint32_t number = next_number_++;
      numbers[pack.id] = number;
      PutPack(&batch, number, pack);
    }
    for (const auto& [id, place] : final) {
      if (place) batch.Put(Key(kBlobPrefix, id), EncodeLocation(numbers.at(place->first), place->second));
      else batch.Delete(Key(kBlobPrefix, id));
    }
    for (const auto& [number, id] : gone) {
      batch.Delete(Key(kPackPrefix, id));
      batch.Delete(NumberKey(number));
    }
    RETURN_IF_ERROR(Write(&batch, "replace " + std::to_string(removed.size()) + " packs"));
    for (const auto& [id, number] : numbers) Remember(number, id);
    return Status::Ok();
  }

  // Each pack with the blobs the index locates in it: one scan of the pack
  // records, one of the blob entries.
  Status ForEachPack(const std::function<void(const PackInfo&)>& fn) override {
    std::unordered_map<uint32_t, PackInfo> packs;
    RETURN_IF_ERROR(Scan(kPackPrefix, [&](const Id& id, std::string_view v) -> Status {
      ASSIGN_OR_RETURN(PackRecord rec, DecodePackRecord(id, v));
      PackInfo& info = packs[rec.number];
      info.id = id;
      info.size = rec.size;
      info.header_entries = rec.header_entries;
      return Status::Ok();
    }));
    if (packs.empty()) return Status::Ok();
    RETURN_IF_ERROR(Scan(kBlobPrefix, [&](const Id& id, std::string_view v) -> Status {
      ASSIGN_OR_RETURN(StoredLocation loc, DecodeLocation(v));
      auto it = packs.find(loc.pack_number);
      if (it == packs.end()) {
        return Status::Corruption("index: blob " + id.Hex() + " names pack number " +
                                  std::to_string(loc.pack_number) +
                                  ", which it does not know (run 'jsnap repair index')");
      }
      it->second.entries.push_back({loc.type, id, loc.offset, loc.length, loc.raw_length});
      return Status::Ok();
    }));
    std::vector<PackInfo*> ordered;
    for (auto& [number, info] : packs) ordered.push_back(&info);
    std::sort(ordered.begin(), ordered.end(), [](const PackInfo* a, const PackInfo* b) { return a->id < b->id; });
    for (PackInfo* info : ordered) {
      std::sort(info->entries.begin(), info->entries.end(),
                [](const PackEntry& a, const PackEntry& b) { return a.offset < b.offset; });
      fn(*info);
    }
    return Status::Ok();
  }

  Status ForEachPackSize(const std::function<void(const Id&, uint64_t)>& fn) override {
    return Scan(kPackPrefix, [&](const Id& id, std::string_view v) -> Status {
      ASSIGN_OR_RETURN(PackRecord rec, DecodePackRecord(id, v));
      fn(id, rec.size);
      return Status::Ok();
    });
  }

  Status ForEachBlob(const std::function<void(const Id&, const BlobLocation&)>& fn) override {
    return Scan(kBlobPrefix, [&](const Id& id, std::string_view v) -> Status {
      ASSIGN_OR_RETURN(StoredLocation stored, DecodeLocation(v));
      ASSIGN_OR_RETURN(BlobLocation loc, Resolve(stored));
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
  static void PutPack(rocksdb::WriteBatch* batch, uint32_t number, const PackInfo& pack) {
    batch->Put(Key(kPackPrefix, pack.id),
               EncodePackRecord({number, pack.size, static_cast<uint32_t>(pack.entries.size())}));
    batch->Put(NumberKey(number), std::string(pack.id.View()));
  }

  Result<std::optional<PackRecord>> GetPackRecord(const Id& pack) {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Key(kPackPrefix, pack), &value);
    if (s.IsNotFound()) return std::optional<PackRecord>();
    RETURN_IF_ERROR(FromRocks(s, "read pack entry"));
    ASSIGN_OR_RETURN(PackRecord rec, DecodePackRecord(pack, value));
    return std::optional<PackRecord>(rec);
  }

  // The pack id behind a blob entry's pack number (memoised: a process
  // meets few packs compared to blobs).
  Result<BlobLocation> Resolve(const StoredLocation& stored) {
    BlobLocation loc;
    loc.type = stored.type;
    loc.offset = stored.offset;
    loc.length = stored.length;
    loc.raw_length = stored.raw_length;
    {
      std::lock_guard<std::mutex> lock(numbers_mu_);
      auto it = numbers_.find(stored.pack_number);
      if (it != numbers_.end()) {
        loc.pack = it->second;
        return loc;
      }
    }
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), NumberKey(stored.pack_number), &value);
    if (s.IsNotFound() || (s.ok() && value.size() != Id::kSize)) {
      return Status::Corruption("index: pack number " + std::to_string(stored.pack_number) +
                                " is unknown (run 'jsnap repair index')");
    }
    RETURN_IF_ERROR(FromRocks(s, "lookup pack number"));
    loc.pack = Id::FromBytes(value.data());
    Remember(stored.pack_number, loc.pack);
    return loc;
  }

  void Remember(uint32_t number, const Id& pack) {
    std::lock_guard<std::mutex> lock(numbers_mu_);
    numbers_[number] = pack;
  }

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
  std::mutex add_mu_;  // AddPack and ReplacePacks read, then write, blob entries
  uint32_t next_number_ = 1;  // under add_mu_
  std::mutex numbers_mu_;
  std::unordered_map<uint32_t, Id> numbers_;  // pack number -> pack id
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
  // Every command opens the index: no reading of each table's properties
  // and sizes at open (only hints for compaction, and a check a read makes
  // anyway).
  o.skip_stats_update_on_db_open = true;
  o.skip_checking_sst_file_sizes_on_db_open = true;
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
  // Filters and indexes cut into 4 KiB partitions under a small top level:
  // a lookup loads the partitions it needs. With one filter block per table
  // (1.2 MB per million blobs), a large index's filters did not fit the
  // cache, and every lookup re-read and decrypted a whole filter.
  t.partition_filters = true;
  t.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  t.metadata_block_size = 4096;
  t.pin_top_level_index_and_filter = true;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

}  // namespace

Result<std::unique_ptr<Index>> Index::Open(const std::string& path, const KeyBytes& key,
                                           bool read_only) {
  // An index from a build with another file layout: say so plainly (RocksDB
  // would report it wrapped in an unrelated-sounding error).
  if (std::FILE* f = std::fopen((path + "/CURRENT").c_str(), "rb")) {
    char magic[sizeof(internal::kIndexFileMagic)] = {};
    const size_t got = std::fread(magic, 1, sizeof(magic), f);
    std::fclose(f);
    if (got != sizeof(magic)) {
      return Status::Corruption("index: " + path + "/CURRENT is truncated (" + std::to_string(got) +
                                " bytes); run 'jsnap repair index' to rebuild the index");
    }
    if (std::memcmp(magic, internal::kIndexFileMagic, sizeof(magic)) != 0) {
      return Status::Corruption("index: " + path +
                                " was written by another jsnap version (its files do not start with '" +
                                std::string(internal::kIndexFileMagic, sizeof(magic)) +
                                "'); run 'jsnap repair index' to rebuild it");
    }
  }
  std::unique_ptr<rocksdb::Env> env(
      rocksdb::NewEncryptedEnv(rocksdb::Env::Default(), internal::NewIndexEncryption(key)));
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
  auto index = std::make_unique<RocksIndex>(std::move(env), std::unique_ptr<rocksdb::DB>(raw), read_only);
  RETURN_IF_ERROR(index->Init());
  return std::unique_ptr<Index>(std::move(index));
}

Status DestroyIndex(const std::string& path) {
  return FromRocks(rocksdb::DestroyDB(path, MakeOptions()), "destroy " + path);
}

}  // namespace jsnap

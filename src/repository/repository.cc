#include "jsnap/repository.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "jsnap/file_util.h"
#include "keys.h"
#include "pack_directory.h"
#include "pack_upload.h"

namespace jsnap {

const char* const kProgramVersion = "jsnap 0.1.0";

std::string Repository::IndexPath() const { return JoinPath(root_, "index"); }

Status Repository::Init(const std::string& path, const std::string& password,
                        const InitOptions& opts) {
  RETURN_IF_ERROR(InitCrypto());
  RETURN_IF_ERROR(opts.chunker.Validate());
  if (opts.pack_size < (1u << 20) || opts.pack_size > (1u << 30)) {
    return Status::InvalidArgument("pack size must be between 1 MiB and 1 GiB");
  }
  if (PathExists(JoinPath(path, "config"))) {
    return Status::AlreadyExists("a repository already exists at " + path);
  }
  RETURN_IF_ERROR(CreateLocalLayout(path).WithContext("create repository at " + path));
  auto backend = NewLocalBackend(path);
  RepoConfig config;
  RandomBytes(config.id.bytes.data(), Id::kSize);
  config.chunker = opts.chunker;
  config.pack_size = opts.pack_size;
  MasterKey key = MasterKey::Generate();
  const std::string keyfile = internal::EncodeKeyFile(key, config.id, password, opts.kdf);
  {
    ASSIGN_OR_RETURN(std::unique_ptr<Index> index, Index::Open(JoinPath(path, "index"), key.index, false));
  }
  // The key first: a config without a key would be a repository nobody opens.
  RETURN_IF_ERROR(backend->Save({FileType::kKey, PlainHash(keyfile).Hex()}, keyfile));
  return backend->Save({FileType::kConfig, ""}, internal::EncodeConfig(config));
}

Result<std::unique_ptr<Repository>> Repository::Open(const std::string& path,
                                                     const std::string& password,
                                                     const OpenOptions& opts) {
  RETURN_IF_ERROR(InitCrypto());
  std::unique_ptr<Repository> repo(new Repository());
  repo->root_ = path;
  repo->backend_ = NewLocalBackend(path);
  repo->compression_level_ = opts.compression_level;
  auto config_text = repo->backend_->Load({FileType::kConfig, ""});
  if (!config_text.ok()) {
    if (config_text.status().IsNotFound()) {
      return Status::NoRepository("no repository at " + path +
                                  " (create one with 'jsnap init --repo " + path + "')");
    }
    return config_text.status();
  }
  ASSIGN_OR_RETURN(repo->config_, internal::DecodeConfig(config_text.value()));

  // Try every key file; Argon2id makes each try cost ~0.1 s, so there are few.
  std::vector<std::string> key_ids;
  RETURN_IF_ERROR(repo->backend_->List(FileType::kKey, [&](const std::string& n, uint64_t) {
    key_ids.push_back(n);
  }));
  std::sort(key_ids.begin(), key_ids.end());
  bool opened = false;
  for (const std::string& kid : key_ids) {
    auto text = repo->backend_->Load({FileType::kKey, kid});
    if (!text.ok()) continue;
    auto key = internal::OpenKeyFile(text.value(), repo->config_.id, password);
    if (key.ok()) {
      repo->key_ = key.value();
      repo->key_id_ = kid;
      opened = true;
      break;
    }
    if (!key.status().IsCorruption()) continue;
    std::fprintf(stderr, "jsnap: warning: key %s is unreadable: %s\n", kid.c_str(),
                 key.status().message().c_str());
  }
  if (!opened) {
    return Status::WrongPassword("wrong password: no key of repository " + path +
                                 " opens with it");
  }
  repo->chunker_ = Chunker(repo->config_.chunker, repo->key_.chunker_seed);
  ASSIGN_OR_RETURN(repo->lock_, RepoLock::Acquire(path, opts.lock, opts.wait_lock, opts.description));
  repo->packs_lost_ = PathExists(JoinPath(path, "packs-lost"));
  if (opts.writable && opts.lock != LockMode::kShared) {
    // A writer holds the only lock that writes packs, snapshots and keys:
    // the temp files there are what killed runs left (a killed create's
    // packs in progress, up to 16 MiB each), not another run's. Only room
    // is at stake, so a failure to list them does not stop the command
    // (prune removes them too).
    (void)repo->backend_->RemoveInterruptedUploads();
  }
  if (!opts.writable && !opts.rebuild_index) {
    std::set<std::string> names;
    RETURN_IF_ERROR(repo->backend_->List(FileType::kSnapshot, [&](const std::string& n, uint64_t) {
      names.insert(n);
    }));
    repo->visible_snapshots_ = std::move(names);
  }
  if (opts.rebuild_index) {
    // A rebuild forgets which packs the old index knew: note first whether
    // any of them is gone, so later creates know data was lost.
    if (PathExists(JoinPath(repo->IndexPath(), "CURRENT"))) {
      auto old = Index::Open(repo->IndexPath(), repo->key_.index, /*read_only=*/true);
      if (old.ok()) {
        repo->index_ = std::move(old).value();
        RETURN_IF_ERROR(repo->NoteLostPacks());
        repo->index_.reset();
      }
    }
    RETURN_IF_ERROR(repo->RebuildIndex());
  } else {
    RETURN_IF_ERROR(repo->OpenIndex(opts.writable));
  }
  return repo;
}

Repository::~Repository() {
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    writer_stop_ = true;
  }
  write_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (index_) index_->MergeSmallTables();
  index_.reset();  // close the database before releasing the lock
  lock_.reset();
}

Status Repository::OpenIndex(bool writable) {
  const std::string path = IndexPath();
  const bool exists = PathExists(JoinPath(path, "CURRENT"));
  if (!writable) {
    if (!exists) {
      return Status::NotFound("the index of " + root_ +
                              " is missing; run 'jsnap repair index' to rebuild it");
    }
    ASSIGN_OR_RETURN(index_, Index::Open(path, key_.index, /*read_only=*/true));
    return Status::Ok();
  }
  if (!exists) {
    std::fprintf(stderr, "jsnap: the index is missing; rebuilding it from the packs\n");
    return RebuildIndex();
  }
  auto index = Index::Open(path, key_.index, /*read_only=*/false);
  if (!index.ok() && index.status().IsCorruption()) {
    std::fprintf(stderr, "jsnap: %s\njsnap: rebuilding the index\n", index.status().message().c_str());
    return RebuildIndex();
  }
  RETURN_IF_ERROR(index.status());
  index_ = std::move(index).value();
  return SyncIndex();
}

// Brings the index in line with the backend: packs written by an interrupted
// process are indexed (their blobs become reusable), packs that vanished are
// dropped (so nothing new is deduplicated against lost data), and snapshot
// files are mirrored.
Status Repository::SyncIndex() {
  std::map<Id, uint64_t> on_disk;
  RETURN_IF_ERROR(backend_->List(FileType::kPack, [&](const std::string& name, uint64_t size) {
    auto id = Id::FromHex(name);
    if (id.ok()) on_disk[id.value()] = size;
  }));
  std::vector<Id> vanished;
  RETURN_IF_ERROR(index_->ForEachPackSize([&](const Id& id, uint64_t) {
    if (on_disk.erase(id) == 0) vanished.push_back(id);
  }));
  if (!vanished.empty()) {
    RETURN_IF_ERROR(MarkPacksLost());
    for (const Id& id : vanished) {
      std::fprintf(stderr,
                   "jsnap: warning: pack %s is in the index but missing from the repository; "
                   "its blobs will be stored again (run 'jsnap check' to see what it affects)\n",
                   id.Hex().c_str());
    }
    // A blob of a vanished pack may also sit in a pack that is still there;
    // a rebuild finds it, where removing entries one by one would not.
    return RebuildIndex();
  }
  for (const auto& [id, size] : on_disk) {
    Status st = IndexPackFromBackend(id, size);
    if (st.IsCorruption()) {
      std::fprintf(stderr, "jsnap: warning: %s (skipped)\n", st.message().c_str());
      continue;
    }
    RETURN_IF_ERROR(st);
  }
  std::map<Id, bool> snaps;
  RETURN_IF_ERROR(backend_->List(FileType::kSnapshot, [&](const std::string& name, uint64_t) {
    auto id = Id::FromHex(name);
    if (id.ok()) snaps[id.value()] = false;
  }));
  std::vector<Id> stale;
  RETURN_IF_ERROR(index_->ForEachSnapshot([&](const Id& id, const std::string&) {
    auto it = snaps.find(id);
    if (it == snaps.end()) stale.push_back(id); else it->second = true;
  }));
  for (const Id& id : stale) RETURN_IF_ERROR(index_->RemoveSnapshot(id));
  for (const auto& [id, indexed] : snaps) {
    if (indexed) continue;
    auto record = LoadSnapshotRecord(id);
    if (!record.ok()) {
      std::fprintf(stderr, "jsnap: warning: %s\n", record.status().message().c_str());
      continue;
    }
    RETURN_IF_ERROR(index_->PutSnapshot(id, record.value()));
  }
  return Status::Ok();
}

Result<std::vector<PackEntry>> Repository::ReadPackHeader(const Id& pack, uint64_t size) {
  const FileHandle h{FileType::kPack, pack.Hex()};
  ASSIGN_OR_RETURN(std::string tail, backend_->Load(h, size - std::min<uint64_t>(size, kPackTrailerSize),
                                                    kPackTrailerSize));
  ASSIGN_OR_RETURN(uint32_t header_len, DecodePackTrailer(tail, size));
  const uint64_t body = size - kPackTrailerSize - header_len;
  // A pack of 300k small blobs has a header of ~12 MB: it is hashed in
  // place and dropped once opened, not copied.
  std::string header;
  {
    ASSIGN_OR_RETURN(std::string sealed, backend_->Load(h, body, header_len));
    if (PlainHash(sealed, tail) != pack) {
      return Status::Corruption("its header does not hash to its name (the file was modified or damaged)");
    }
    auto plain = jsnap::Open(key_.encryption, sealed);
    RETURN_IF_ERROR(plain.status().WithContext("header"));
    header = std::move(plain).value();
  }
  return DecodePackHeader(header, body);
}

Status Repository::IndexPackFromBackend(const Id& pack, uint64_t size) {
  PackInfo info;
  info.id = pack;
  info.size = size;
  auto entries = ReadPackHeader(pack, size);
  RETURN_IF_ERROR(entries.status().WithContext("pack " + pack.Hex()));
  info.entries = std::move(entries).value();
  return index_->AddPack(info);
}

Status Repository::RebuildIndex() {
  index_.reset();
  RETURN_IF_ERROR(DestroyIndex(IndexPath()));
  ASSIGN_OR_RETURN(index_, Index::Open(IndexPath(), key_.index, /*read_only=*/false));
  return SyncIndex();
}

Status Repository::MarkPacksLost() {
  packs_lost_ = true;
  return WriteFileAtomic(JoinPath(root_, "packs-lost"), "", 0600);
}

Status Repository::NoteLostPacks() {
  std::set<Id> on_disk;
  RETURN_IF_ERROR(backend_->List(FileType::kPack, [&](const std::string& name, uint64_t) {
    auto id = Id::FromHex(name);
    if (id.ok()) on_disk.insert(id.value());
  }));
  bool lost = false;
  RETURN_IF_ERROR(index_->ForEachPackSize([&](const Id& id, uint64_t) { lost |= !on_disk.count(id); }));
  return lost ? MarkPacksLost() : Status::Ok();
}

Status Repository::ClearPacksLost() {
  packs_lost_ = false;
  if (::unlink(JoinPath(root_, "packs-lost").c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno(errno, "remove " + JoinPath(root_, "packs-lost"));
  }
  return FsyncDir(root_);
}

// --- blobs -------------------------------------------------------------------

Result<bool> Repository::HasBlob(const Id& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.count(id) != 0) return true;
  }
  ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, index_->Find(id));
  return loc.has_value();
}

Status Repository::SaveBlob(BlobType type, std::string_view plaintext, Id* id, bool* added,
                            uint64_t* stored) {
  *id = BlobId(plaintext);
  return SaveBlobWithId(type, *id, plaintext, added, stored);
}

Status Repository::SaveBlobWithId(BlobType type, const Id& id, std::string_view plaintext,
                                  bool* added, uint64_t* stored, CompressionProfile profile) {
  *added = false;
  if (stored != nullptr) *stored = 0;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    RETURN_IF_ERROR(write_error_);  // a pack failed to reach the disk: stop early
  }
  ASSIGN_OR_RETURN(bool has, HasBlob(id));
  if (has) return Status::Ok();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!pending_.insert(id).second) return Status::Ok();  // another thread won
  }
  std::string sealed;
  sealed.reserve(plaintext.size() + kSealOverhead + 64);
  const BlobAd ad(type, id);
  EncodeBlobAppend(key_.encryption, plaintext, compression_level_, &sealed, SealingAd(ad), profile);

  QueuedPack finished;
  std::string piece;
  uint64_t piece_offset = 0;
  std::shared_ptr<PackUpload> piece_upload;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int t = static_cast<int>(type);
    PackWriter& packer = packers_[t];
    if (packer.empty()) {
      if (!uploads_[t]) {
        auto upload = backend_->StartUpload(FileType::kPack);
        if (!upload.ok()) {
          pending_.erase(id);
          return upload.status();
        }
        uploads_[t] = std::make_shared<PackUpload>(std::move(upload).value());
      }
      packer.Prepare(TakeSparePiece(), PieceCapacity());
    }
    packer.Add(type, id, sealed, static_cast<uint32_t>(plaintext.size()));
    if (packer.size() >= config_.pack_size) {
      finished.tail = packer.Finish(key_.encryption, &finished.entries, &finished.offset);
      finished.upload = std::move(uploads_[t]);
    } else if (packer.buffered() >= kPackPiece) {
      // Written now, outside the lock, while other threads keep filling.
      piece = packer.TakeBuffered(TakeSparePiece(), PieceCapacity(), &piece_offset);
      piece_upload = uploads_[t];
      piece_upload->BeginPiece();
    }
  }
  *added = true;
  if (stored != nullptr) *stored = sealed.size();
  if (piece_upload) {
    Status st = piece_upload->WritePiece(piece_offset, piece);
    ReturnSparePiece(std::move(piece));
    if (!st.ok()) {  // the pack cannot be completed: every writer stops now
      std::lock_guard<std::mutex> lock(write_mu_);
      if (write_error_.ok()) write_error_ = st;
    }
    return st;
  }
  if (!finished.upload) return Status::Ok();
  return EnqueuePack(std::move(finished));
}

size_t Repository::PieceCapacity() const {
  // A piece is written once it reaches kPackPiece, so it holds at most that
  // plus one blob: reserved once, it never moves.
  return kPackPiece + config_.chunker.max_size + config_.chunker.max_size / 8 + 4096;
}

std::string Repository::TakeSparePiece() {
  if (spare_pieces_.empty()) return std::string();
  std::string piece = std::move(spare_pieces_.back());
  spare_pieces_.pop_back();
  return piece;
}

void Repository::ReturnSparePiece(std::string piece) {
  std::lock_guard<std::mutex> lock(mu_);
  if (spare_pieces_.size() < kSparePieces) spare_pieces_.push_back(std::move(piece));
}

Status Repository::EnqueuePack(QueuedPack pack) {
  std::unique_lock<std::mutex> lock(write_mu_);
  if (!writer_.joinable()) writer_ = std::thread([this] { WriterLoop(); });
  // One pack in flight: this one waits until the previous is on disk, so
  // memory holds at most the pack being written and the one being filled.
  write_cv_.wait(lock, [&] { return (write_queue_.empty() && !writer_busy_) || !write_error_.ok(); });
  RETURN_IF_ERROR(write_error_);
  write_queue_.push_back(std::move(pack));
  write_cv_.notify_all();
  return Status::Ok();
}

void Repository::WriterLoop() {
  std::unique_lock<std::mutex> lock(write_mu_);
  for (;;) {
    write_cv_.wait(lock, [&] { return writer_stop_ || !write_queue_.empty(); });
    if (write_queue_.empty()) return;
    QueuedPack pack = std::move(write_queue_.front());
    write_queue_.pop_front();
    writer_busy_ = true;
    write_cv_.notify_all();  // room for the next one
    lock.unlock();
    Status st = WritePack(std::move(pack));
    lock.lock();
    writer_busy_ = false;
    if (!st.ok() && write_error_.ok()) write_error_ = st;
    write_cv_.notify_all();
  }
}

Status Repository::WaitForWriter() {
  std::unique_lock<std::mutex> lock(write_mu_);
  write_cv_.wait(lock, [&] { return write_queue_.empty() && !writer_busy_; });
  return write_error_;
}

Status Repository::WritePack(QueuedPack pack) {
  PackInfo info;
  info.id = PackId(pack.tail).value();  // our own pack: the tail holds header and trailer
  const Id pack_id = info.id;
  info.size = pack.offset + pack.tail.size();
  info.entries = std::move(pack.entries);
  Status st = pack.upload->Finish(pack.offset, pack.tail, {FileType::kPack, pack_id.Hex()});
  pack.upload.reset();  // an upload not committed removes its temp file
  if (st.ok()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      written_packs_.push_back(pack_id);
    }
    st = index_->AddPack(info);  // a synced write: not under mu_
  } else {
    st = st.WithContext("save pack " + pack_id.Hex());
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const PackEntry& e : info.entries) pending_.erase(e.id);
  if (spare_pieces_.size() < kSparePieces) spare_pieces_.push_back(std::move(pack.tail));
  return st;
}

void Repository::DiscardWrittenPacks() {
  (void)WaitForWriter();
  std::vector<Id> packs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    packs.swap(written_packs_);
    for (int t = 0; t < 2; ++t) {
      std::vector<PackEntry> entries;
      (void)packers_[t].Finish(key_.encryption, &entries);  // drop what was never written
      uploads_[t].reset();                                  // and its temp file
    }
    pending_.clear();
  }
  // Index first, in one write (each removal scans the blob entries): a pack
  // the index names must exist. If the index cannot be written (disk
  // full), the next writer's sync drops the entries.
  (void)index_->ReplacePacks(packs, {});
  for (const Id& id : packs) (void)backend_->Remove({FileType::kPack, id.Hex()});
}

Status Repository::Flush() {
  for (int t = 0; t < 2; ++t) {
    QueuedPack pack;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (packers_[t].empty()) continue;
      pack.tail = packers_[t].Finish(key_.encryption, &pack.entries, &pack.offset);
      pack.upload = std::move(uploads_[t]);
    }
    RETURN_IF_ERROR(EnqueuePack(std::move(pack)));
  }
  return WaitForWriter();
}

namespace {
// The decrypted frame of a loaded blob is scratch, kept per thread: only the
// plaintext leaves, so only it needs fresh memory. A frame larger than a
// typical chunk's (a tree of megabytes) is not kept.
constexpr size_t kKeptScratchFrame = 1 << 20;
std::string& ScratchFrame() {
  thread_local std::string frame;
  return frame;
}
void ReleaseScratchFrameIfLarge() {
  if (ScratchFrame().capacity() > kKeptScratchFrame) std::string().swap(ScratchFrame());
}
}  // namespace

Result<std::string> Repository::LoadBlob(const Id& id) {
  ASSIGN_OR_RETURN(std::vector<std::string> out, LoadBlobsOfType(std::span<const Id>(&id, 1), BlobType::kData));
  return std::move(out[0]);
}

void Repository::UsePackDirectory(size_t max_entries) {
  directory_ = max_entries == 0 ? nullptr : std::make_unique<PackDirectory>(max_entries);
}

void Repository::LearnPack(const Id& pack) {
  auto size = backend_->Size({FileType::kPack, pack.Hex()});
  auto entries = size.ok() ? ReadPackHeader(pack, size.value()) : Result<std::vector<PackEntry>>(size.status());
  if (entries.ok()) {
    directory_->Add(pack, std::move(entries).value());
  } else {
    directory_->MarkUnreadable(pack);
  }
}

Result<std::vector<std::string>> Repository::LoadBlobs(std::span<const Id> ids) {
  return LoadBlobsOfType(ids, BlobType::kData);
}

Result<std::vector<std::string>> Repository::LoadBlobsOfType(std::span<const Id> ids, BlobType type) {
  std::vector<BlobLocation> locs;
  locs.reserve(ids.size());
  bool from_headers = false;
  auto locate = [&](const Id& id) -> Result<BlobLocation> {
    ASSIGN_OR_RETURN(BlobLocation loc, Locate(id));
    if (loc.type != type) {
      return Status::Corruption("blob " + id.Hex() + " is a " + BlobTypeName(loc.type) +
                                " blob where a " + BlobTypeName(type) + " blob was expected");
    }
    return loc;
  };
  for (const Id& id : ids) {
    if (directory_) {
      std::optional<BlobLocation> known = directory_->Find(id);
      if (known && known->type == type) {
        locs.push_back(*known);
        from_headers = true;
        continue;
      }
    }
    ASSIGN_OR_RETURN(BlobLocation loc, locate(id));
    if (directory_ && directory_->Wants(loc.pack)) LearnPack(loc.pack);
    locs.push_back(loc);
  }
  auto out = LoadLocated(ids, locs, type);
  if (out.ok() || !from_headers) return out;
  // A header may name a second copy of a blob (an interrupted create, a
  // race), which check --read-data does not read: if that copy is damaged,
  // the one the index names may not be. The index decides on a failure.
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSIGN_OR_RETURN(locs[i], locate(ids[i]));
  }
  return LoadLocated(ids, locs, type);
}

Result<BlobLocation> Repository::Locate(const Id& id) {
  ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, index_->Find(id));
  if (!loc) {
    return Status::NotFound("blob " + id.Hex() +
                            " is not in the repository (run 'jsnap check' to see what it affects)");
  }
  return *loc;
}

Result<std::vector<std::string>> Repository::LoadLocated(std::span<const Id> ids,
                                                         const std::vector<BlobLocation>& locs,
                                                         std::optional<BlobType> type) {
  // Runs of blobs that follow each other in a pack are read together, up to
  // this many bytes, across gaps of up to kMaxGap: a parallel create
  // interleaves the chunks of two workers, so a file's next chunk often
  // sits a chunk or two further on, and reading those bytes costs less
  // than another request.
  constexpr uint64_t kMaxRun = 8 << 20;
  constexpr uint64_t kMaxGap = 64 << 10;
  auto where = [&](size_t i) {  // only on failure: restores load ~100k blobs a second
    return "pack " + locs[i].pack.Hex() + ": blob " + ids[i].Hex() + " at offset " + std::to_string(locs[i].offset);
  };
  std::vector<std::string> out(ids.size());
  std::string& frame = ScratchFrame();
  for (size_t begin = 0, end; begin < ids.size(); begin = end) {
    uint64_t run_end = uint64_t{locs[begin].offset} + locs[begin].length;
    for (end = begin + 1; end < ids.size() && locs[end].pack == locs[begin].pack &&
                          locs[end].offset >= run_end && locs[end].offset - run_end <= kMaxGap &&
                          uint64_t{locs[end].offset} + locs[end].length - locs[begin].offset <= kMaxRun;
         ++end) {
      run_end = uint64_t{locs[end].offset} + locs[end].length;
    }
    auto stored = backend_->Load({FileType::kPack, locs[begin].pack.Hex()}, locs[begin].offset,
                                 run_end - locs[begin].offset);
    if (!stored.ok()) return stored.status().WithContext(where(begin));
    for (size_t i = begin; i < end; ++i) {
      const std::string_view blob =
          std::string_view(stored.value()).substr(locs[i].offset - locs[begin].offset, locs[i].length);
      // A bound blob that opens is the blob asked for: no re-hash (which
      // was ~30 % of a restore's CPU). Version 2 blobs are re-hashed.
      const BlobAd ad(type.value_or(locs[i].type), ids[i]);
      Status st = DecodeBlobInto(key_.encryption, key_.id_mac, ids[i], blob, locs[i].raw_length, &frame,
                                 &out[i], BlobCheckFor(ad, !blobs_bound()));
      if (!st.ok()) {
        ReleaseScratchFrameIfLarge();
        return st.WithContext(where(i));
      }
    }
  }
  ReleaseScratchFrameIfLarge();
  return out;
}

Result<Id> Repository::SaveTree(const Tree& tree, bool* added, uint64_t* stored) {
  Id id;
  RETURN_IF_ERROR(SaveBlob(BlobType::kTree, tree.Encode(), &id, added, stored));
  return id;
}

Result<Tree> Repository::LoadTree(const Id& id) {
  ASSIGN_OR_RETURN(EncodedTree encoded, LoadEncodedTree(id));
  auto tree = encoded.Decode();
  if (!tree.ok()) return tree.status().WithContext("tree " + id.Hex());
  return tree;
}

Result<EncodedTree> Repository::LoadEncodedTree(const Id& id) {
  ASSIGN_OR_RETURN(std::vector<std::string> data, LoadBlobsOfType(std::span<const Id>(&id, 1), BlobType::kTree));
  auto tree = EncodedTree::Parse(std::move(data[0]));
  if (!tree.ok()) return tree.status().WithContext("tree " + id.Hex());
  return tree;
}

// --- snapshots -------------------------------------------------------------

Result<Id> Repository::SaveSnapshot(const Snapshot& snapshot) {
  const std::string record = snapshot.Encode();
  const std::string sealed = Seal(key_.encryption, record);
  const Id id = PlainHash(sealed);
  RETURN_IF_ERROR(backend_->Save({FileType::kSnapshot, id.Hex()}, sealed));
  {
    // From here the snapshot exists and refers to this process's packs.
    std::lock_guard<std::mutex> lock(mu_);
    written_packs_.clear();
  }
  Status st = index_->PutSnapshot(id, record);
  if (!st.ok()) {  // the snapshot file is the truth; the next writer indexes it
    std::fprintf(stderr, "jsnap: warning: snapshot %s saved, but not indexed yet: %s\n",
                 id.Short().c_str(), st.message().c_str());
  }
  return id;
}

Result<std::string> Repository::LoadSnapshotRecord(const Id& id) {
  const std::string what = "snapshot " + id.Hex();
  ASSIGN_OR_RETURN(std::string sealed, backend_->Load({FileType::kSnapshot, id.Hex()}));
  if (PlainHash(sealed) != id) return Status::Corruption(what + ": file does not hash to its name");
  auto record = jsnap::Open(key_.encryption, sealed);
  if (!record.ok()) return record.status().WithContext(what);
  return record;
}

Result<std::vector<SnapshotEntry>> Repository::ListSnapshots(std::vector<std::string>* unreadable) {
  auto skip = [&](const std::string& what) {
    if (unreadable != nullptr) unreadable->push_back(what);
    else std::fprintf(stderr, "jsnap: warning: %s (left out; run 'jsnap check')\n", what.c_str());
  };
  // The backend's list is authoritative; the index saves decrypting files.
  std::map<Id, std::string> records;
  RETURN_IF_ERROR(index_->ForEachSnapshot([&](const Id& id, const std::string& r) { records[id] = r; }));
  std::vector<SnapshotEntry> out;
  std::vector<std::string> names;
  RETURN_IF_ERROR(backend_->List(FileType::kSnapshot, [&](const std::string& n, uint64_t) {
    names.push_back(n);
  }));
  for (const std::string& name : names) {
    auto id = Id::FromHex(name);
    if (!id.ok()) continue;
    if (visible_snapshots_ && !visible_snapshots_->count(name)) continue;  // newer than our index view
    std::string record;
    if (auto it = records.find(id.value()); it != records.end()) {
      record = it->second;
    } else {
      auto loaded = LoadSnapshotRecord(id.value());
      if (!loaded.ok()) {  // one damaged snapshot must not hide the others
        skip(loaded.status().message());
        continue;
      }
      record = std::move(loaded).value();
    }
    auto snap = DecodeSnapshot(record);
    if (!snap.ok()) {
      skip("snapshot " + name + ": " + snap.status().message());
      continue;
    }
    out.push_back({id.value(), std::move(snap).value()});
  }
  std::sort(out.begin(), out.end(), [](const SnapshotEntry& a, const SnapshotEntry& b) {
    return a.snapshot.time_ns != b.snapshot.time_ns ? a.snapshot.time_ns < b.snapshot.time_ns
                                                    : a.id < b.id;
  });
  return out;
}

Result<SnapshotEntry> Repository::FindSnapshot(const std::string& ref) {
  ASSIGN_OR_RETURN(std::vector<SnapshotEntry> all, ListSnapshots());
  if (ref == "latest") {
    if (all.empty()) return Status::NotFound("the repository has no snapshots yet");
    return all.back();
  }
  const SnapshotEntry* found = nullptr;
  for (const SnapshotEntry& e : all) {
    if (e.id.Hex().compare(0, ref.size(), ref) != 0 || ref.empty()) continue;
    if (found != nullptr) {
      return Status::InvalidArgument("snapshot id prefix '" + ref +
                                     "' is ambiguous; give more digits");
    }
    found = &e;
  }
  if (found == nullptr) {
    return Status::NotFound("no snapshot '" + ref + "' (list them with 'jsnap snapshots')");
  }
  return *found;
}

Status Repository::VerifySnapshotFile(const Id& id) {
  ASSIGN_OR_RETURN(std::string record, LoadSnapshotRecord(id));
  return DecodeSnapshot(record).status().WithContext("snapshot " + id.Hex());
}

Status Repository::RemoveSnapshot(const Id& id) {
  RETURN_IF_ERROR(backend_->Remove({FileType::kSnapshot, id.Hex()}));
  return index_->RemoveSnapshot(id);
}

// --- keys ------------------------------------------------------------------

Result<std::vector<KeyInfo>> Repository::ListKeys() {
  std::vector<std::string> ids;
  RETURN_IF_ERROR(backend_->List(FileType::kKey, [&](const std::string& n, uint64_t) { ids.push_back(n); }));
  std::sort(ids.begin(), ids.end());
  std::vector<KeyInfo> out;
  for (const std::string& id : ids) {
    ASSIGN_OR_RETURN(std::string text, backend_->Load({FileType::kKey, id}));
    ASSIGN_OR_RETURN(KeyInfo info, internal::DescribeKeyFile(id, text));
    info.current = id == key_id_;
    out.push_back(std::move(info));
  }
  return out;
}

Result<std::string> Repository::AddKey(const std::string& password, const KdfParams& kdf) {
  const std::string text = internal::EncodeKeyFile(key_, config_.id, password, kdf);
  const std::string id = PlainHash(text).Hex();
  RETURN_IF_ERROR(backend_->Save({FileType::kKey, id}, text));
  return id;
}

Status Repository::RemoveKey(const std::string& id_prefix) {
  ASSIGN_OR_RETURN(std::vector<KeyInfo> keys, ListKeys());
  std::vector<std::string> matches;
  for (const KeyInfo& k : keys) {
    if (!id_prefix.empty() && k.id.compare(0, id_prefix.size(), id_prefix) == 0) matches.push_back(k.id);
  }
  if (matches.empty()) return Status::NotFound("no key '" + id_prefix + "' (see 'jsnap key list')");
  if (matches.size() > 1) return Status::InvalidArgument("key id prefix '" + id_prefix + "' is ambiguous");
  if (matches[0] == key_id_) {
    return Status::InvalidArgument(
        "refusing to remove the key in use; open the repository with another password first");
  }
  return backend_->Remove({FileType::kKey, matches[0]});
}

}  // namespace jsnap

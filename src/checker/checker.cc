#include "jsnap/checker.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <future>
#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "jsnap/file_util.h"
#include "jsnap/record.h"
#include "jsnap/restorer.h"
#include "jsnap/system.h"
#include "jsnap/thread_pool.h"

namespace jsnap {

namespace {

// When each pack was last read in full, kept beside the index in a sealed
// file (`index/../check-state`); checks run under a shared lock beside a
// create that owns the index, so they keep their own state.
class VerifyState {
 public:
  static VerifyState Load(Repository& repo) {
    VerifyState s;
    s.path_ = JoinPath(repo.root(), "check-state");
    auto sealed = ReadWholeFile(s.path_);
    if (!sealed.ok()) return s;
    auto plain = Open(repo.key().encryption, sealed.value());
    if (!plain.ok()) return s;  // unreadable state: everything counts as never verified
    RecordReader r(plain.value());
    while (r.Next()) {
      std::string_view v = r.bytes();
      if (r.tag() != 1 || v.size() <= Id::kSize) continue;
      size_t pos = Id::kSize;
      uint64_t t = 0;
      if (GetVarint(v, &pos, &t)) s.times_[Id::FromBytes(v.data())] = static_cast<int64_t>(t);
    }
    return s;
  }
  int64_t Get(const Id& pack) const {
    auto it = times_.find(pack);
    return it == times_.end() ? 0 : it->second;
  }
  void Set(const Id& pack, int64_t t) { times_[pack] = t; }
  Status Save(Repository& repo, const std::set<Id>& existing) {
    RecordWriter w;
    for (const auto& [id, t] : times_) {
      if (!existing.count(id)) continue;  // forget packs that are gone
      std::string v(id.View());
      PutVarint(&v, static_cast<uint64_t>(t));
      w.Bytes(1, v);
    }
    return WriteFileAtomic(path_, Seal(repo.key().encryption, w.data()), 0600);
  }

 private:
  std::string path_;
  std::map<Id, int64_t> times_;
};


class Checker {
 public:
  Checker(Repository& repo, const CheckOptions& opts) : repo_(repo), opts_(opts) {}

  Result<CheckReport> Run() {
    RETURN_IF_ERROR(CheckPacks());
    // Reading the packs (their bytes, decoded on a pool) and walking the
    // snapshots' trees (index lookups on this thread) are independent: they
    // overlap. Both report under mu_.
    std::future<Status> read;
    if (opts_.ReadsData()) read = std::async(std::launch::async, [this] { return ReadPacks(); });
    Status walked = CheckSnapshots();
    if (read.valid()) {
      Status st = read.get();
      if (walked.ok()) walked = st;
    }
    RETURN_IF_ERROR(walked);
    RETURN_IF_ERROR(Attribute());
    WarnOnlyForUnreferenced();
    for (auto& [object, p] : problems_) report_.errors.push_back(std::move(p));
    return std::move(report_);
  }

 private:
  void Problem(const std::string& object, const std::string& error) {
    std::lock_guard<std::mutex> lock(mu_);
    ProblemLocked(object, error);
  }
  void ProblemLocked(const std::string& object, const std::string& error) {
    auto& p = problems_[object];
    p.object = object;
    if (p.error.empty()) p.error = error;
  }
  void BadBlob(const Id& id, const std::string& error) {
    std::lock_guard<std::mutex> lock(mu_);
    BadBlobLocked(id, error);
  }
  void BadBlobLocked(const Id& id, const std::string& error) {
    report_.bad_blobs.insert(id);
    ProblemLocked("blob " + id.Hex(), error);
  }

  // Packs: the index against the files, and each file's own header.
  Status CheckPacks() {
    RETURN_IF_ERROR(repo_.backend().List(FileType::kPack, [&](const std::string& n, uint64_t size) {
      auto id = Id::FromHex(n);
      if (id.ok()) on_disk_[id.value()] = size;
    }));
    RETURN_IF_ERROR(repo_.index().ForEachPack([&](const PackInfo& p) { indexed_[p.id] = p; }));
    report_.packs = indexed_.size();
    for (const auto& [id, size] : on_disk_) {
      if (!indexed_.count(id)) {
        report_.warnings.push_back("pack " + id.Hex() +
                                   " is not in the index (written by a create that is running or "
                                   "was interrupted; the next create or prune indexes it, or "
                                   "reports it if it cannot be read)");
      }
    }
    for (const auto& [id, info] : indexed_) {
      const std::string name = "pack " + id.Hex();
      auto disk = on_disk_.find(id);
      std::string error;
      if (disk == on_disk_.end()) {
        error = "missing from the repository";
      } else if (disk->second != info.size) {
        error = "has " + std::to_string(disk->second) + " bytes, the index says " + std::to_string(info.size);
      } else {
        Status st = CompareHeader(info);
        if (!st.ok()) error = st.message();
      }
      if (error.empty()) continue;
      Problem(name, error);
      bad_packs_.insert(id);
      for (const PackEntry& e : info.entries) {  // the blobs the index locates here
        report_.bad_blobs.insert(e.id);
        blob_errors_[e.id] = name + ": " + error;
      }
    }
    return Status::Ok();
  }

  // The pack's own header (name, authentication, entries) against the
  // index: every blob the index places in this pack is in the header at
  // that place, and every other header entry is a copy of a blob indexed
  // in another pack.
  Status CompareHeader(const PackInfo& info) {
    ASSIGN_OR_RETURN(std::vector<PackEntry> entries, repo_.ReadPackHeader(info.id, info.size));
    const std::string repair = " (run 'jsnap repair index')";
    if (entries.size() != info.header_entries) {
      return Status::Corruption("its header has " + std::to_string(entries.size()) +
                                " entries, the index says " + std::to_string(info.header_entries) + repair);
    }
    std::map<uint32_t, const PackEntry*> by_offset;
    for (const PackEntry& e : entries) by_offset[e.offset] = &e;
    for (const PackEntry& b : info.entries) {
      auto it = by_offset.find(b.offset);
      const PackEntry* a = it == by_offset.end() ? nullptr : it->second;
      if (a == nullptr || a->id != b.id || a->type != b.type || a->length != b.length ||
          a->raw_length != b.raw_length) {
        return Status::Corruption("blob " + b.id.Hex() + " at offset " + std::to_string(b.offset) +
                                  " is not where the index says" + repair);
      }
      by_offset.erase(it);
    }
    // The other entries are copies: of blobs indexed elsewhere, or unused
    // ones whose entry went with another pack (prune reclaims them).
    for (const auto& [offset, e] : by_offset) {
      ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, repo_.index().Find(e->id));
      if (!loc) {
        report_.warnings.push_back("pack " + info.id.Hex() + ": blob " + e->id.Hex() + " at offset " +
                                   std::to_string(offset) +
                                   " is not in the index (an unused copy; prune reclaims it)");
      }
    }
    return Status::Ok();
  }

  // Snapshots: every tree and chunk they name is indexed, in a sound pack.
  Status CheckSnapshots() {
    std::vector<std::string> unreadable;
    ASSIGN_OR_RETURN(snapshots_, repo_.ListSnapshots(&unreadable));
    std::unique_lock<std::mutex> lock(mu_);
    for (const std::string& u : unreadable) {
      problems_[u] = {u.substr(0, u.find(':')), u, {"that snapshot (it cannot be listed or restored)"}};
    }
    lock.unlock();
    // Listings may serve a record from the index: the file itself must be
    // sound too (the index is only a cache of it).
    for (const SnapshotEntry& e : snapshots_) {
      Status st = repo_.VerifySnapshotFile(e.id);
      if (!st.ok()) {
        std::lock_guard<std::mutex> guard(mu_);
        problems_["snapshot " + e.id.Hex()] = {"snapshot " + e.id.Hex(), st.message(),
                                               {"snapshot " + e.id.Short() + ": its file (the record survives only in the index)"}};
      }
    }
    for (const SnapshotEntry& e : snapshots_) RETURN_IF_ERROR(Mark(e.snapshot.tree, true));
    RETURN_IF_ERROR(ResolveReferenced());
    lock.lock();
    report_.snapshots = snapshots_.size();
    report_.blobs_referenced = referenced_.size();
    return Status::Ok();
  }

  // Marks a blob referenced; a tree is looked up, loaded and walked (once).
  // Chunks are only marked: ResolveReferenced finds them all in one pass.
  Status Mark(const Id& id, bool is_tree) {
    if (!referenced_.insert(id).second || !is_tree) return Status::Ok();
    ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, repo_.index().Find(id));
    if (!loc) {
      BadBlob(id, kLost);
      return Status::Ok();
    }
    if (bad_packs_.count(loc->pack)) {
      BadBlob(id, BadPackError(id, loc->pack));
      return Status::Ok();
    }
    // Nodes decoded one at a time (EncodedTree): a wide folder's tree is
    // held as its blob while the trees below it are walked.
    auto tree = repo_.LoadEncodedTree(id);
    if (!tree.ok()) {
      BadBlob(id, tree.status().message());
      return Status::Ok();
    }
    for (size_t i = 0; i < tree->size(); ++i) {
      auto n = tree->At(i);
      if (!n.ok()) {  // the nodes before it are still referenced, and marked
        BadBlob(id, n.status().message());
        return Status::Ok();
      }
      for (const Id& c : n->content) RETURN_IF_ERROR(Mark(c, false));
      if (n->type == NodeType::kDir) RETURN_IF_ERROR(Mark(n->subtree, true));
    }
    return Status::Ok();
  }

  // Every referenced blob must be indexed, outside a bad pack. The pack
  // listing in memory holds each index entry once (it is built from them),
  // so one pass over it replaces a lookup per chunk (~3 us each: 0.3 s for
  // a database of 95k pages). Only when it accounts for fewer blobs than
  // were referenced is each one looked up, to name the missing.
  // The same pass counts the indexed blobs nothing references.
  Status ResolveReferenced() {
    size_t found = 0, unreferenced = 0;
    uint64_t unreferenced_bytes = 0;
    for (const auto& [pack, info] : indexed_) {
      const bool bad = bad_packs_.count(pack) != 0;
      for (const PackEntry& e : info.entries) {
        if (!referenced_.count(e.id)) {
          ++unreferenced;
          unreferenced_bytes += e.length;
          continue;
        }
        ++found;
        if (bad) BadBlob(e.id, BadPackError(e.id, pack));
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      report_.blobs_unreferenced = unreferenced;
      report_.bytes_unreferenced = unreferenced_bytes;
    }
    if (found == referenced_.size()) return Status::Ok();
    for (const Id& id : referenced_) {
      ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, repo_.index().Find(id));
      if (!loc) BadBlob(id, kLost);
    }
    return Status::Ok();
  }

  std::string BadPackError(const Id& blob, const Id& pack) const {
    auto error = blob_errors_.find(blob);
    return error != blob_errors_.end() ? error->second : "pack " + pack.Hex() + " is damaged";
  }
  static constexpr const char* kLost = "is not in the index, nor in any pack (lost data)";

  std::vector<Id> SelectPacks(const VerifyState& state) {
    std::vector<Id> sound;
    for (const auto& [id, info] : indexed_) {
      if (!bad_packs_.count(id)) sound.push_back(id);
    }
    if (opts_.read_data && !opts_.subset_fraction && !opts_.subset_group && !opts_.subset_bytes) return sound;
    if (opts_.subset_group) {
      const auto [k, m] = *opts_.subset_group;
      std::vector<Id> out;
      for (const Id& id : sound) {
        if (id.bytes[0] % m == k - 1) out.push_back(id);
      }
      return out;
    }
    // Least recently verified first, so repeated runs cover everything.
    std::stable_sort(sound.begin(), sound.end(),
                     [&](const Id& a, const Id& b) { return state.Get(a) < state.Get(b); });
    if (opts_.subset_fraction) {
      const size_t n = static_cast<size_t>(std::ceil(sound.size() * *opts_.subset_fraction / 100.0));
      sound.resize(std::min(n, sound.size()));
      return sound;
    }
    std::vector<Id> out;
    uint64_t total = 0;
    for (const Id& id : sound) {
      if (total >= *opts_.subset_bytes) break;
      out.push_back(id);
      total += indexed_.at(id).size;  // at(): operator[] may insert, and the walk reads indexed_
    }
    return out;
  }

  // Blobs entries[0, n) (n <= kSideBySide) of a window read from pack offset
  // `begin`, each one's verdict into st[k]: decoded one by one into
  // plain[k], then re-hashed together, which the SHA extensions run ~1.5x
  // faster than one after the other. The re-hash catches a writer that
  // stored content under a wrong id.
  void VerifyBlobs(std::string_view window, uint64_t begin, const PackEntry* const* entries, size_t n,
                   std::string* frame, std::string* plain, Status* st) {
    std::string_view decoded[kSideBySide];
    size_t decoded_entry[kSideBySide];
    size_t m = 0;
    for (size_t k = 0; k < n; ++k) {
      const PackEntry& e = *entries[k];
      const BlobAd ad(e.type, e.id);
      st[k] = DecodeBlobInto(repo_.key().encryption, repo_.key().id_mac, e.id,
                             window.substr(e.offset - begin, e.length), e.raw_length, frame, &plain[k],
                             repo_.BlobCheckFor(ad, /*rehash=*/false));
      if (st[k].ok()) {
        decoded[m] = plain[k];
        decoded_entry[m++] = k;
      }
    }
    Id rehashed[kSideBySide];
    repo_.BlobIds(decoded, m, rehashed);
    for (size_t t = 0; t < m; ++t) {
      if (rehashed[t] != entries[decoded_entry[t]]->id) st[decoded_entry[t]] = IdMismatchError();
    }
  }

  // Reads a pack in windows of up to kReadWindow bytes (a blob larger than
  // that alone), decodes every blob the index places in it and checks its
  // name against its header. The error is for a pack whose size cannot be
  // read; damage found in it goes to `bad` and `pack_error`.
  Status VerifyPack(const PackInfo& info, std::vector<std::pair<Id, std::string>>* bad,
                    std::string* pack_error, uint64_t* bytes_read) {
    const std::string name = "pack " + info.id.Hex();
    const FileHandle h{FileType::kPack, info.id.Hex()};
    ASSIGN_OR_RETURN(uint64_t size, repo_.backend().Size(h));
    if (size != info.size) {
      *pack_error = "the file is " + std::to_string(size) + " bytes, the index says " +
                    std::to_string(info.size) + " (the file was modified or damaged)";
    }
    // One window, frame and plaintext buffer per worker for all its packs:
    // fresh ones per pack were faulted in page by page each time, and whole
    // packs (16 MiB per worker) were most of check's memory. A tree blob of
    // megabytes (a database's page list) does not stay behind.
    // (The pool's threads end with ReadPacks, and their buffers.)
    thread_local std::string window, frame, plain[kSideBySide];
    std::vector<const PackEntry*> order;
    order.reserve(info.entries.size());
    for (const PackEntry& e : info.entries) {
      if (e.offset + uint64_t{e.length} <= size) {
        order.push_back(&e);
      } else {  // a truncated pack loses the blobs past its end, not the others
        bad->emplace_back(e.id, name + ": blob at offset " + std::to_string(e.offset) +
                                    ": past the end of the file (" + std::to_string(size) + " bytes)");
      }
    }
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (size_t i = 0; i < order.size();) {
      // Blobs [i, j) are read with one request, gaps (copies the index
      // places elsewhere) included.
      const uint64_t begin = order[i]->offset;
      size_t j = i + 1;
      while (j < order.size() && order[j]->offset + uint64_t{order[j]->length} - begin <= kReadWindow) ++j;
      const uint64_t end = order[j - 1]->offset + uint64_t{order[j - 1]->length};
      const Status read = repo_.backend().LoadInto(h, begin, end - begin, &window);
      if (!read.ok()) {
        if (pack_error->empty()) *pack_error = read.message();
        for (; i < j; ++i) bad->emplace_back(order[i]->id, name + ": unreadable: " + read.message());
        continue;
      }
      *bytes_read += end - begin;
      for (size_t n; i < j; i += n) {
        n = std::min(kSideBySide, j - i);
        Status st[kSideBySide];
        VerifyBlobs(window, begin, &order[i], n, &frame, plain, st);
        for (size_t k = 0; k < n; ++k) {
          if (st[k].ok()) continue;
          const PackEntry& e = *order[i + k];
          bad->emplace_back(e.id, name + ": blob at offset " + std::to_string(e.offset) + ": " + st[k].message());
        }
      }
    }
    if (frame.capacity() > kKeptBuffer) std::string().swap(frame);
    for (std::string& p : plain) {
      if (p.capacity() > kKeptBuffer) std::string().swap(p);
    }
    if (window.capacity() > kKeptBuffer) std::string().swap(window);
    // The header and trailer, read exactly, decide the pack's name.
    if (pack_error->empty()) {
      auto header = repo_.ReadPackHeader(info.id, size);
      if (header.ok()) {
        *bytes_read += header->size() * kPackEntrySize + kSealOverhead + kPackTrailerSize;
      } else {
        *pack_error = header.status().message();
      }
    }
    return Status::Ok();
  }

  static constexpr uint64_t kReadWindow = 2 << 20;
  static constexpr size_t kSideBySide = 2;  // blobs re-hashed at once
  static constexpr size_t kKeptBuffer = 4 << 20;

  Status ReadPacks() {
    VerifyState state = VerifyState::Load(repo_);
    {
      // Packs are verified in parallel, a few in flight.
      ThreadPool pool(ThreadPool::DefaultThreads(), 2);
      for (const Id& id : SelectPacks(state)) {
        // Queued behind the packs being decoded: the disk reads it meanwhile.
        repo_.backend().Prefetch({FileType::kPack, id.Hex()});
        pool.Submit([this, id, &state] {
          const PackInfo& info = indexed_.at(id);
          std::vector<std::pair<Id, std::string>> bad;
          std::string pack_error;
          uint64_t bytes_read = 0;
          const std::string name = "pack " + id.Hex();
          const Status loaded = VerifyPack(info, &bad, &pack_error, &bytes_read);
          if (!loaded.ok()) {  // not even its size: every blob in it is lost
            pack_error = loaded.message();
            bad.clear();
            for (const PackEntry& e : info.entries) bad.emplace_back(e.id, name + ": unreadable");
          }
          std::lock_guard<std::mutex> lock(mu_);  // also guards `state`
          ++report_.packs_read;
          report_.bytes_read += bytes_read;
          if (!pack_error.empty()) ProblemLocked(name, pack_error);
          for (const auto& [blob, error] : bad) BadBlobLocked(blob, error);
          if (pack_error.empty() && bad.empty()) {
            state.Set(id, NowNs());
            report_.packs_verified.push_back(id);
          }
        });
      }
      pool.Wait();
    }
    std::set<Id> existing;
    for (const auto& [id, info] : indexed_) existing.insert(id);
    Status st = state.Save(repo_, existing);
    std::lock_guard<std::mutex> lock(mu_);
    if (!st.ok()) report_.warnings.push_back("could not record which packs were verified: " + st.message());
    return Status::Ok();
  }

  // Names the snapshots and files each bad blob hurts.
  Status Attribute() {
    if (report_.bad_blobs.empty()) return Status::Ok();
    for (const SnapshotEntry& e : snapshots_) {
      const std::string label = "snapshot " + e.id.Short();
      if (report_.bad_blobs.count(e.snapshot.tree)) {
        Affects(e.snapshot.tree, label + ": everything (its root tree)");
        continue;
      }
      RETURN_IF_ERROR(WalkTree(repo_, e.snapshot.tree, "", [&](const std::string& path, const Node& n) -> Result<bool> {
        for (const Id& c : n.content) {
          if (report_.bad_blobs.count(c)) Affects(c, label + ": " + path);
        }
        if (n.type != NodeType::kDir) return false;
        if (report_.bad_blobs.count(n.subtree)) {
          Affects(n.subtree, label + ": " + path + "/ (the directory's contents)");
          return false;
        }
        return true;
      }));
    }
    return Status::Ok();
  }

  void Affects(const Id& blob, const std::string& what) {
    auto it = problems_.find("blob " + blob.Hex());
    if (it == problems_.end()) {
      Problem("blob " + blob.Hex(), blob_errors_[blob]);
      it = problems_.find("blob " + blob.Hex());
    }
    auto& a = it->second.affects;
    if (std::find(a.begin(), a.end(), what) == a.end()) a.push_back(what);
  }

  // Damage in unreferenced blobs hurts nothing: a warning, not an error.
  // (ResolveReferenced counted them.)
  void WarnOnlyForUnreferenced() {
    for (auto it = problems_.begin(); it != problems_.end();) {
      const bool blob = it->first.rfind("blob ", 0) == 0;
      if (blob && it->second.affects.empty()) {
        auto id = Id::FromHex(it->first.substr(5));
        if (id.ok() && !referenced_.count(id.value())) {
          report_.warnings.push_back(it->first + " (unreferenced): " + it->second.error);
          it = problems_.erase(it);
          continue;
        }
      }
      ++it;
    }
  }

  Repository& repo_;
  const CheckOptions& opts_;
  // Guards report_ and problems_ while the packs are read beside the
  // snapshot walk; the other members are written before (CheckPacks) or
  // by the walk alone.
  std::mutex mu_;
  CheckReport report_;
  std::map<Id, uint64_t> on_disk_;
  std::map<Id, PackInfo> indexed_;
  std::set<Id> bad_packs_;
  std::map<Id, std::string> blob_errors_;
  std::vector<SnapshotEntry> snapshots_;
  std::unordered_set<Id, IdHash> referenced_;
  std::map<std::string, CheckProblem> problems_;
};

}  // namespace

Status CheckOptions::ParseSubset(const std::string& text) {
  if (text.empty()) return Status::InvalidArgument("empty --read-data-subset");
  char* end = nullptr;
  if (text.back() == '%') {
    const double v = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() - 1 || v <= 0 || v > 100) {
      return Status::InvalidArgument("--read-data-subset " + text + ": a percentage must be in (0, 100]");
    }
    subset_fraction = v;
    return Status::Ok();
  }
  if (size_t slash = text.find('/'); slash != std::string::npos) {
    const int k = std::atoi(text.substr(0, slash).c_str()), m = std::atoi(text.substr(slash + 1).c_str());
    if (k < 1 || m < 1 || k > m || m > 256) {
      return Status::InvalidArgument("--read-data-subset " + text + ": K/M needs 1 <= K <= M <= 256");
    }
    subset_group = std::make_pair(k, m);
    return Status::Ok();
  }
  auto size = ParseSize(text);
  if (!size.ok() || size.value() == 0) {
    return Status::InvalidArgument("--read-data-subset " + text + ": give N%, K/M, or a size like 500M or 2G");
  }
  subset_bytes = size.value();
  return Status::Ok();
}

Result<CheckReport> CheckRepository(Repository& repo, const CheckOptions& opts) {
  Checker c(repo, opts);
  return c.Run();
}

}  // namespace jsnap

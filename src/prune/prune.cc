#include "jsnap/prune.h"


#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <unordered_set>

#include "jsnap/file_util.h"

namespace jsnap {

namespace {

// Every blob the snapshots reach. Missing trees are an error: pruning on
// top of lost data could delete the last copies of what is left.
Status MarkUsed(Repository& repo, const Id& tree_id, std::unordered_set<Id, IdHash>* used) {
  if (!used->insert(tree_id).second) return Status::Ok();
  auto unreadable = [&](const Status& st) {
    return st.WithContext("a snapshot refers to a tree that cannot be read; run "
                          "'jsnap check' and 'jsnap repair snapshots' before pruning");
  };
  auto tree = repo.LoadEncodedTree(tree_id);  // nodes decoded one at a time
  if (!tree.ok()) return unreadable(tree.status());
  for (size_t i = 0; i < tree->size(); ++i) {
    auto n = tree->At(i);
    if (!n.ok()) return unreadable(n.status().WithContext("tree " + tree_id.Hex()));
    for (const Id& c : n->content) used->insert(c);
    if (n->type == NodeType::kDir) RETURN_IF_ERROR(MarkUsed(repo, n->subtree, used));
  }
  return Status::Ok();
}

struct PackPlan {
  PackInfo info;
  uint64_t live_bytes = 0;
  uint64_t body_bytes = 0;
  std::vector<const PackEntry*> live;
};

// Removes ".tmp-*" files left by interrupted writes (safe: nobody else
// writes while the exclusive lock is held). A directory that cannot be
// listed keeps its own: they take room, nothing else.
uint64_t RemoveAllTempFiles(const std::string& root) {
  uint64_t n = 0;
  // data/ itself holds the temp files of packs being written (their
  // data/<hh> is known only once they are complete).
  std::vector<std::string> dirs = {root, JoinPath(root, "keys"), JoinPath(root, "snapshots"),
                                   JoinPath(root, "locks"), JoinPath(root, "data")};
  for (int i = 0; i < 256; ++i) {
    char sub[8];
    std::snprintf(sub, sizeof(sub), "data/%02x", i);
    dirs.push_back(JoinPath(root, sub));
  }
  for (const std::string& d : dirs) {
    auto removed = RemoveTempFiles(d);
    if (removed.ok()) n += *removed;
  }
  return n;
}

// Copies blobs, still sealed and verified first, from old packs into new
// ones (one writer per blob type), which are saved as they fill. Nothing is
// committed until Commit; Discard removes what was written.
class PackCopier {
 public:
  explicit PackCopier(Repository& repo) : repo_(repo) {}

  // Copies `blobs` (index entries of `pack`). A blob that does not open or
  // does not hash to its id stops the copy, unless `damaged` is given: then
  // its id is added there and it is left out (salvage).
  Status Copy(const Id& pack, const std::vector<const PackEntry*>& blobs, std::vector<Id>* damaged = nullptr) {
    auto loaded = repo_.backend().Load({FileType::kPack, pack.Hex()});
    if (!loaded.ok()) return loaded.status().WithContext("pack " + pack.Hex());
    const std::string& data = loaded.value();
    std::string frame, plain;  // checked, not kept: reused across the pack's blobs
    for (const PackEntry* e : blobs) {
      Status st;
      std::string_view sealed;
      if (e->offset + uint64_t{e->length} > data.size()) {
        st = Status::Corruption("the pack ends before it (truncated)");
      } else {
        sealed = std::string_view(data).substr(e->offset, e->length);
        const BlobAd ad(e->type, e->id);  // outlives the check that refers to it
        st = DecodeBlobInto(repo_.key().encryption, repo_.key().id_mac, e->id, sealed, e->raw_length, &frame,
                            &plain, repo_.BlobCheckFor(ad, true));
      }
      if (!st.ok()) {
        if (damaged != nullptr) {
          damaged->push_back(e->id);
          continue;
        }
        return st.WithContext("pack " + pack.Hex() + ": blob " + e->id.Hex() + " (run 'jsnap check --read-data')");
      }
      PackWriter& w = writers_[static_cast<int>(e->type)];
      w.Add(e->type, e->id, sealed, e->raw_length);
      if (w.size() >= repo_.config().pack_size) RETURN_IF_ERROR(Flush(w));
    }
    return Status::Ok();
  }

  // Saves the packs still filling, then replaces `old` by the packs written
  // in the index: the commit point, after which `old` is unreferenced.
  Status Commit(const std::vector<Id>& old) {
    for (PackWriter& w : writers_) RETURN_IF_ERROR(Flush(w));
    return repo_.index().ReplacePacks(old, written_);
  }
  void Discard() {
    for (const PackInfo& p : written_) (void)repo_.backend().Remove({FileType::kPack, p.id.Hex()});
  }
  size_t packs_written() const { return written_.size(); }

 private:
  Status Flush(PackWriter& w) {
    if (w.empty()) return Status::Ok();
    PackInfo info;
    std::string data = w.Finish(repo_.key().encryption, &info.entries);
    info.id = PackId(data).value();  // our own pack: the trailer fits
    info.size = data.size();
    RETURN_IF_ERROR(repo_.backend().Save({FileType::kPack, info.id.Hex()}, data));
    written_.push_back(std::move(info));
    return Status::Ok();
  }

  Repository& repo_;
  PackWriter writers_[2];
  std::vector<PackInfo> written_;
};

// Deletes packs the index no longer names.
Status RemovePacks(Repository& repo, const std::vector<Id>& packs, const std::string& what) {
  for (const Id& id : packs) {
    Status rm = repo.backend().Remove({FileType::kPack, id.Hex()});
    if (!rm.ok() && !rm.IsNotFound()) return rm.WithContext(what + " (the index is already updated)");
  }
  return Status::Ok();
}

}  // namespace

Result<PruneReport> Prune(Repository& repo, const PruneOptions& opts) {
  PruneReport report;
  auto say = [&](const std::string& m) { if (opts.progress) opts.progress(m); };

  say("marking what the snapshots use");
  std::unordered_set<Id, IdHash> used;
  std::vector<std::string> unreadable;
  ASSIGN_OR_RETURN(std::vector<SnapshotEntry> snaps, repo.ListSnapshots(&unreadable));
  if (!unreadable.empty()) {
    // Its data would look unused and be deleted: refuse, as restic does.
    return Status::Corruption("cannot prune while a snapshot file is unreadable (" + unreadable[0] +
                              "); run 'jsnap check', and remove or repair it first");
  }
  for (const SnapshotEntry& e : snaps) {
    if (opts.ignore_snapshots.count(e.id)) continue;
    RETURN_IF_ERROR(MarkUsed(repo, e.snapshot.tree, &used));
  }

  // Plan by pack. A blob is live in the one pack the index points to.
  std::vector<PackPlan> packs;
  size_t live_blobs = 0;  // used blobs found in the listing
  RETURN_IF_ERROR(repo.index().ForEachPack([&](const PackInfo& p) {
    PackPlan plan;
    plan.info = p;
    packs.push_back(std::move(plan));
  }));
  for (PackPlan& p : packs) {
    report.packs_before++;
    report.bytes_before += p.info.size;
    // The body is all but the sealed header and trailer; it includes blobs
    // the index does not list here (copies of blobs indexed elsewhere),
    // which are unused.
    const uint64_t overhead = kPackTrailerSize + kSealOverhead + uint64_t{kPackEntrySize} * p.info.header_entries;
    p.body_bytes = p.info.size > overhead ? p.info.size - overhead : 0;
    uint64_t listed = 0;
    for (const PackEntry& e : p.info.entries) listed += e.length;
    if (p.body_bytes < listed || p.info.header_entries < p.info.entries.size()) {
      return Status::Corruption("index record of pack " + p.info.id.Hex() +
                                " does not fit its blobs; run 'jsnap repair index' before pruning");
    }
    for (const PackEntry& e : p.info.entries) {  // the blobs the index locates here
      if (!used.count(e.id)) continue;
      p.live_bytes += e.length;
      p.live.push_back(&e);
      ++live_blobs;
    }
  }
  // Every used blob must still exist somewhere. The listing names each
  // indexed blob once, so when it found them all there is nothing to look
  // up; otherwise find the one that is missing, to name it.
  for (auto it = used.begin(); live_blobs != used.size() && it != used.end(); ++it) {
    ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, repo.index().Find(*it));
    if (!loc) {
      return Status::Corruption("blob " + it->Hex() + " is used by a snapshot but missing; run "
                                "'jsnap check' and 'jsnap repair snapshots' before pruning");
    }
  }
  std::vector<PackPlan*> remove, repack;
  for (PackPlan& p : packs) {
    if (p.live.empty()) {
      remove.push_back(&p);
      continue;
    }
    // Unused means blobs nothing needs; the header is the pack's own cost.
    const uint64_t unused = p.body_bytes - p.live_bytes;
    if (unused > 0 && unused * 100.0 > opts.max_unused_percent * p.body_bytes) repack.push_back(&p);
    else report.unused_bytes_kept += unused;
  }
  std::sort(repack.begin(), repack.end(), [](const PackPlan* a, const PackPlan* b) {
    return a->body_bytes - a->live_bytes > b->body_bytes - b->live_bytes;
  });
  uint64_t repack_bytes = 0;
  std::vector<PackPlan*> chosen;
  for (PackPlan* p : repack) {
    if (repack_bytes + p->live_bytes > opts.max_repack_bytes) {
      report.unused_bytes_kept += p->body_bytes - p->live_bytes;
      continue;
    }
    repack_bytes += p->live_bytes;
    chosen.push_back(p);
  }
  for (PackPlan* p : remove) {
    report.packs_deleted++;
    report.blobs_removed += p->info.header_entries;
    report.bytes_freed += p->info.size;
  }
  for (PackPlan* p : chosen) {
    report.packs_repacked++;
    report.blobs_removed += p->info.header_entries - p->live.size();
    report.bytes_freed += p->body_bytes - p->live_bytes;
  }
  if (opts.dry_run) {
    report.packs_after = report.packs_before - report.packs_deleted - report.packs_repacked;
    report.bytes_after = report.bytes_before - report.bytes_freed;
    return report;
  }

  // Repack: verified copies of the live blobs, still sealed.
  PackCopier copier(repo);
  std::vector<Id> removed;
  for (PackPlan* p : remove) removed.push_back(p->info.id);
  Status st;
  for (PackPlan* p : chosen) {
    say("repacking pack " + p->info.id.Short());
    st = copier.Copy(p->info.id, p->live);
    if (!st.ok()) break;
    removed.push_back(p->info.id);
  }
  if (st.ok()) st = copier.Commit(removed);
  if (!st.ok()) {
    copier.Discard();
    return st.WithContext("prune stopped before deleting anything");
  }
  report.packs_written = copier.packs_written();
  say("deleting " + std::to_string(removed.size()) + " packs");
  RETURN_IF_ERROR(RemovePacks(repo, removed, "prune"));
  report.temp_files_removed = RemoveAllTempFiles(repo.root());
  RETURN_IF_ERROR(repo.index().ForEachPackSize([&](const Id&, uint64_t size) {
    report.packs_after++;
    report.bytes_after += size;
  }));
  // Every blob the snapshots use was found indexed above: none refers to
  // lost data any more (a create stored it again, or a repair rewrote it),
  // so creates may trust their parents' chunk lists again.
  if (opts.ignore_snapshots.empty()) RETURN_IF_ERROR(repo.ClearPacksLost());
  return report;
}

namespace {

class SnapshotRepairer {
 public:
  SnapshotRepairer(Repository& repo, const std::set<Id>& bad, bool dry_run)
      : repo_(repo), bad_(bad), dry_run_(dry_run) {}

  // The repaired tree's id (the same id when nothing below it is damaged).
  Result<Id> Rewrite(const Id& id, const std::string& path) {
    if (auto it = done_.find(id); it != done_.end()) return it->second;
    ASSIGN_OR_RETURN(Tree tree, repo_.LoadTree(id));
    names_.clear();
    for (const Node& n : tree.nodes) names_.insert(n.name);
    bool changed = false;
    for (Node& n : tree.nodes) {
      const std::string child = path + "/" + n.name;
      if (n.type == NodeType::kDir) {
        if (bad_.count(n.subtree)) {
          ASSIGN_OR_RETURN(n.subtree, Save(Tree()));
          Damaged(&n, child);
          changed = true;
          continue;
        }
        std::set<std::string> mine = names_;  // the recursion uses names_ too
        ASSIGN_OR_RETURN(Id sub, Rewrite(n.subtree, child));
        names_ = std::move(mine);
        changed |= sub != n.subtree;
        n.subtree = sub;
        continue;
      }
      if (std::none_of(n.content.begin(), n.content.end(), [&](const Id& c) { return bad_.count(c) > 0; })) continue;
      std::vector<Id> kept;
      uint64_t size = 0;
      for (const Id& c : n.content) {
        if (bad_.count(c)) continue;
        ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, repo_.index().Find(c));
        if (!loc) continue;
        kept.push_back(c);
        size += loc->raw_length;
      }
      n.content = std::move(kept);
      n.size = size;
      n.sqlite.reset();  // no longer a valid database image
      Damaged(&n, child);
      changed = true;
    }
    Id out = id;
    if (changed) {
      ASSIGN_OR_RETURN(out, Save(std::move(tree)));
    }
    done_[id] = out;
    return out;
  }

  std::vector<std::string> TakeDamaged() { return std::move(damaged_); }

 private:
  void Damaged(Node* n, const std::string& path) {
    std::string name = n->name + ".damaged";
    for (int i = 2; names_.count(name); ++i) name = n->name + ".damaged-" + std::to_string(i);
    names_.insert(name);
    n->name = name;
    damaged_.push_back(path);
  }
  Result<Id> Save(Tree tree) {
    RETURN_IF_ERROR(tree.Normalize());
    if (dry_run_) return repo_.BlobId(tree.Encode());
    bool added;
    return repo_.SaveTree(tree, &added);
  }

  Repository& repo_;
  const std::set<Id>& bad_;
  bool dry_run_;
  std::map<Id, Id> done_;
  std::vector<std::string> damaged_;
  std::set<std::string> names_;  // of the tree being rewritten
};

}  // namespace

Result<std::vector<RepairedSnapshot>> RepairSnapshots(Repository& repo, const std::set<Id>& bad,
                                                      const RepairOptions& opts) {
  std::vector<RepairedSnapshot> out;
  ASSIGN_OR_RETURN(std::vector<SnapshotEntry> snaps, repo.ListSnapshots());
  for (const SnapshotEntry& e : snaps) {
    SnapshotRepairer r(repo, bad, opts.dry_run);
    Id root;
    std::vector<std::string> damaged;
    if (bad.count(e.snapshot.tree)) {
      damaged.push_back("/ (the whole snapshot: its root tree is lost)");
    } else {
      ASSIGN_OR_RETURN(root, r.Rewrite(e.snapshot.tree, ""));
      damaged = r.TakeDamaged();
      if (root == e.snapshot.tree) continue;
    }
    RepairedSnapshot rs;
    rs.original = e.id;
    rs.damaged_paths = damaged;
    // A repair run earlier (without --forget) made the same snapshot: the
    // rewrite is deterministic, so reuse it rather than add a copy.
    for (const SnapshotEntry& other : snaps) {
      const auto& tags = other.snapshot.tags;
      if (other.snapshot.parent == e.id && other.snapshot.tree == root &&
          std::find(tags.begin(), tags.end(), "repaired") != tags.end()) {
        rs.repaired = other.id;
      }
    }
    if (!opts.dry_run && !root.IsZero() && rs.repaired.IsZero()) {
      RETURN_IF_ERROR(repo.Flush());  // the new trees before the snapshot naming them
      Snapshot s = e.snapshot;
      s.tree = root;
      s.tags.push_back("repaired");
      s.parent = e.id;
      ASSIGN_OR_RETURN(rs.repaired, repo.SaveSnapshot(s));
    }
    if (!opts.dry_run && opts.forget_originals) RETURN_IF_ERROR(repo.RemoveSnapshot(e.id));
    out.push_back(std::move(rs));
  }
  // While an original that refers to lost blobs is kept, it may be a
  // create's parent: creates go on checking that the parent's blobs exist.
  if (!opts.dry_run && (opts.forget_originals || out.empty())) RETURN_IF_ERROR(repo.ClearPacksLost());
  return out;
}

Result<SalvageReport> SalvagePacks(Repository& repo, const std::set<Id>& damaged, bool dry_run) {
  SalvageReport report;
  std::set<Id> wanted;
  for (const Id& id : damaged) {
    ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, repo.index().Find(id));
    if (loc) wanted.insert(loc->pack);
  }
  std::vector<PackInfo> packs;
  RETURN_IF_ERROR(repo.index().ForEachPack([&](const PackInfo& p) {
    if (wanted.count(p.id) == 0) return;
    // A pack that is gone is lost, not damaged: the index sync and
    // 'repair index' deal with it.
    if (repo.backend().Size({FileType::kPack, p.id.Hex()}).ok()) packs.push_back(p);
  }));
  for (const PackInfo& p : packs) report.packs.push_back(p.id);
  if (dry_run || packs.empty()) return report;

  // Durable before any blob leaves the index: from now on a create checks
  // that its parent's blobs exist, and reads again the files whose do not.
  RETURN_IF_ERROR(repo.MarkPacksLost());
  PackCopier copier(repo);
  Status st;
  for (const PackInfo& p : packs) {
    std::vector<const PackEntry*> blobs;
    for (const PackEntry& e : p.entries) blobs.push_back(&e);
    const size_t before = report.blobs_dropped.size();
    st = copier.Copy(p.id, blobs, &report.blobs_dropped);
    if (!st.ok()) break;
    report.blobs_kept += blobs.size() - (report.blobs_dropped.size() - before);
  }
  if (st.ok()) st = copier.Commit(report.packs);
  if (!st.ok()) {
    copier.Discard();
    return st.WithContext("repair stopped before removing anything (run it again)");
  }
  report.packs_written = copier.packs_written();
  RETURN_IF_ERROR(RemovePacks(repo, report.packs, "repair"));
  return report;
}

}  // namespace jsnap

#include <map>
#include <set>
#include <unordered_set>

#include "commands.h"
#include "jsnap/node_reader.h"
#include "jsnap/restorer.h"
#include "jsnap/sqlite_source.h"

namespace jsnap::cli {

namespace {

struct CheckOpts {
  bool read_data = false;
  std::string sqlite_snapshot;
};

// One problem, and what it hurts.
struct Damage {
  std::string what;   // "blob 3f2a…: not in the index"
  std::set<std::string> affected;  // "snapshot 1a2b3c4d: /srv/app/db.sqlite"
};

int RunCheck(GlobalOptions& g, const CheckOpts& o) {
  auto repo = OpenRepo(g, LockMode::kShared, false, "check");
  if (!repo.ok()) return Fail(repo.status());
  Repository& r = **repo;
  auto snaps = r.ListSnapshots();
  if (!snaps.ok()) return Fail(snaps.status());

  std::map<std::string, Damage> damage;  // by blob
  std::unordered_set<Id, IdHash> checked;
  std::unordered_set<Id, IdHash> bad;
  uint64_t blobs = 0, sqlite_checked = 0;
  auto check_blob = [&](const Id& id) -> bool {
    if (bad.count(id)) return false;
    if (!checked.insert(id).second) return true;
    ++blobs;
    Status st;
    auto loc = r.index().Find(id);
    if (!loc.ok()) st = loc.status();
    else if (!loc.value()) st = Status::NotFound("blob " + id.Hex() + " is not in the index");
    else if (o.read_data) st = r.LoadBlob(id).status();
    else st = r.backend().Size({FileType::kPack, loc.value()->pack.Hex()}).status().WithContext("blob " + id.Hex());
    if (st.ok()) return true;
    bad.insert(id);
    damage[id.Hex()].what = st.message();
    return false;
  };

  for (const SnapshotEntry& e : snaps.value()) {
    const std::string label = "snapshot " + e.id.Short();
    if (!check_blob(e.snapshot.tree)) {
      damage[e.snapshot.tree.Hex()].affected.insert(label + ": the whole snapshot (root tree)");
      continue;
    }
    std::unordered_set<Id, IdHash> seen_trees;
    Status st = WalkTree(r, e.snapshot.tree, "", [&](const std::string& path, const Node& n) -> Result<bool> {
      for (const Id& id : n.content) {
        if (!check_blob(id)) damage[id.Hex()].affected.insert(label + ": " + path);
      }
      if (n.type != NodeType::kDir) return false;
      if (!check_blob(n.subtree)) {
        damage[n.subtree.Hex()].affected.insert(label + ": " + path + "/ (directory contents)");
        return false;
      }
      return true;
    });
    if (!st.ok()) damage["snapshot " + e.id.Hex()].what = st.message();
  }

  if (!o.sqlite_snapshot.empty()) {
    auto snap = r.FindSnapshot(o.sqlite_snapshot);
    if (!snap.ok()) return Fail(snap.status());
    Status st = WalkTree(r, snap->snapshot.tree, "", [&](const std::string& path, const Node& n) -> Result<bool> {
      if (!n.sqlite) return n.type == NodeType::kDir;
      ++sqlite_checked;
      auto reader = NodeReader::Open(r, n);
      Status s = reader.status();
      if (s.ok()) {
        s = CheckSqliteImage(path, n.size, [&](uint64_t off, size_t len) { return reader->Read(off, len); });
      }
      if (!s.ok()) {
        auto& d = damage["sqlite " + path];
        d.what = s.message();
        d.affected.insert("snapshot " + snap->id.Short() + ": " + path);
      } else if (!g.json && !g.quiet) {
        std::printf("sqlite %s: integrity_check ok\n", path.c_str());
      }
      return false;
    });
    if (!st.ok()) return Fail(st);
  }

  if (g.json) {
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& [key, d] : damage) {
      nlohmann::json affected = nlohmann::json::array();
      for (const auto& a : d.affected) affected.push_back(JsonString(a));
      errors.push_back({{"object", key}, {"error", JsonString(d.what)}, {"affects", affected}});
    }
    PrintJson({{"snapshots", snaps->size()}, {"blobs_checked", blobs}, {"read_data", o.read_data},
               {"sqlite_checked", sqlite_checked}, {"errors", errors}, {"ok", damage.empty()}});
  } else {
    for (const auto& [key, d] : damage) {
      std::fprintf(stderr, "error: %s\n", d.what.c_str());
      for (const auto& a : d.affected) std::fprintf(stderr, "  affects %s\n", a.c_str());
    }
    if (!g.quiet) {
      std::printf("checked %zu snapshots, %llu blobs%s: %s\n", snaps->size(), (unsigned long long)blobs,
                  o.read_data ? " (data read and verified)" : "",
                  damage.empty() ? "no errors" : (std::to_string(damage.size()) + " errors").c_str());
    }
  }
  return damage.empty() ? kExitOk : kExitFatal;
}

}  // namespace

void RegisterCheck(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand("check", "Verify the repository: every snapshot's trees and data are present");
  auto o = std::make_shared<CheckOpts>();
  cmd->add_flag("--read-data", o->read_data, "Also read, decrypt, decompress and re-hash every blob");
  cmd->add_option("--sqlite-integrity", o->sqlite_snapshot,
                  "Run PRAGMA integrity_check on every SQLite database stored in this snapshot");
  cmd->callback([&g, o, exit_code] { *exit_code = RunCheck(g, *o); });
}

}  // namespace jsnap::cli

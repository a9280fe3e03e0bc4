#include "commands.h"
#include "jsnap/checker.h"
#include "jsnap/node_reader.h"
#include "jsnap/restorer.h"

namespace jsnap::cli {

namespace {

struct CheckCliOpts {
  bool read_data = false;
  std::string subset;
  std::string sqlite_snapshot;
};

// PRAGMA integrity_check on every database stored in one snapshot.
Status CheckSqlite(Repository& r, const std::string& ref, CheckReport* report, const GlobalOptions& g) {
  ASSIGN_OR_RETURN(SnapshotEntry snap, r.FindSnapshot(ref));
  size_t found = 0;
  RETURN_IF_ERROR(WalkTree(r, snap.snapshot.tree, "", [&](const std::string& path, const Node& n) -> Result<bool> {
    if (!n.sqlite) return n.type == NodeType::kDir;
    ++found;
    Status s = CheckStoredSqlite(r, n, path);
    if (!s.ok()) {
      report->errors.push_back({"sqlite " + path, s.message(), {"snapshot " + snap.id.Short() + ": " + path}});
    } else if (!g.json && !g.quiet) {
      std::printf("sqlite %s: integrity_check ok\n", path.c_str());
    }
    return false;
  }));
  if (found == 0) {
    report->warnings.push_back("snapshot " + snap.id.Short() + " holds no SQLite database");
  }
  return Status::Ok();
}

int RunCheck(GlobalOptions& g, const CheckCliOpts& o) {
  CheckOptions opts;
  opts.read_data = o.read_data;
  if (!o.subset.empty()) {
    Status st = opts.ParseSubset(o.subset);
    if (!st.ok()) return Fail(st);
  }
  auto repo = OpenRepo(g, LockMode::kShared, false, "check");
  if (!repo.ok()) return Fail(repo.status());
  ProgressLine line(g, [](double t) { return "[" + FormatDuration(t) + "] checking"; });
  auto report = CheckRepository(**repo, opts);
  if (!report.ok()) return Fail(report.status());
  if (!o.sqlite_snapshot.empty()) {
    Status st = CheckSqlite(**repo, o.sqlite_snapshot, &report.value(), g);
    if (!st.ok()) return Fail(st);
  }
  const CheckReport& r = report.value();
  if (g.json) {
    nlohmann::json errors = nlohmann::json::array(), warnings = nlohmann::json::array();
    for (const CheckProblem& p : r.errors) {
      nlohmann::json affects = nlohmann::json::array();
      for (const auto& a : p.affects) affects.push_back(JsonString(a));
      errors.push_back({{"object", p.object}, {"error", JsonString(p.error)}, {"affects", affects}});
    }
    for (const auto& w : r.warnings) warnings.push_back(JsonString(w));
    nlohmann::json verified = nlohmann::json::array();
    for (const Id& id : r.packs_verified) verified.push_back(id.Hex());
    PrintJson({{"ok", r.ok()}, {"snapshots", r.snapshots}, {"packs", r.packs}, {"packs_read", r.packs_read},
               {"bytes_read", r.bytes_read}, {"blobs_referenced", r.blobs_referenced},
               {"blobs_unreferenced", r.blobs_unreferenced}, {"bytes_unreferenced", r.bytes_unreferenced},
               {"packs_verified", verified}, {"errors", errors}, {"warnings", warnings}});
  } else {
    for (const auto& w : r.warnings) line.Message("warning: " + w);
    for (const CheckProblem& p : r.errors) {
      std::string text = "error: " + p.object + ": " + p.error;
      for (const auto& a : p.affects) text += "\n  affects " + a;
      line.Message(text);
    }
    if (!g.quiet) {
      std::printf("checked %zu snapshots, %zu packs%s: %s\n", r.snapshots, r.packs,
                  r.packs_read ? (", read " + std::to_string(r.packs_read) + " packs (" +
                                  FormatBytes(r.bytes_read) + ") in full").c_str() : "",
                  r.ok() ? "no errors" : (std::to_string(r.errors.size()) + " errors").c_str());
      if (r.blobs_unreferenced) {
        std::printf("%zu blobs (%s) are not used by any snapshot; 'jsnap prune' reclaims them\n",
                    r.blobs_unreferenced, FormatBytes(r.bytes_unreferenced).c_str());
      }
    }
    if (!r.ok()) {
      std::fprintf(stderr, "jsnap: the repository is damaged. 'jsnap repair packs' removes damaged blobs, so "
                           "that the next create stores again what the sources still hold; 'jsnap repair "
                           "snapshots' rewrites the affected snapshots without the data that is lost.\n");
    }
  }
  return r.ok() ? kExitOk : kExitFatal;
}

}  // namespace

void RegisterCheck(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "check", "Verify the repository: every snapshot's trees and data are present and sound "
               "(exit 0: no errors, 1: damage found, each named with what it affects)");
  auto o = std::make_shared<CheckCliOpts>();
  cmd->add_flag("--read-data", o->read_data, "Also read every pack: decrypt, decompress and re-hash every blob");
  cmd->add_option("--read-data-subset", o->subset,
                  "Read only part of the data: N% (least recently verified packs first, so repeated "
                  "runs cover everything), K/M (group K of M), or a size such as 500M");
  cmd->add_option("--sqlite-integrity", o->sqlite_snapshot,
                  "Also run PRAGMA integrity_check on every SQLite database stored in this snapshot");
  cmd->callback([&g, o, exit_code] { *exit_code = RunCheck(g, *o); });
}

}  // namespace jsnap::cli

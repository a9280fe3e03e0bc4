#include "commands.h"
#include "jsnap/checker.h"
#include "jsnap/prune.h"

namespace jsnap::cli {

namespace {
void PrintSalvage(const GlobalOptions& g, const SalvageReport& r, bool dry_run) {
  if (g.json) {
    nlohmann::json packs = nlohmann::json::array(), dropped = nlohmann::json::array();
    for (const Id& p : r.packs) packs.push_back(p.Hex());
    for (const Id& b : r.blobs_dropped) dropped.push_back(b.Hex());
    PrintJson({{"packs", packs}, {"blobs_dropped", dropped}, {"blobs_kept", r.blobs_kept},
               {"packs_written", r.packs_written}, {"dry_run", dry_run}});
    return;
  }
  if (g.quiet || r.packs.empty()) return;
  for (const Id& p : r.packs) std::printf("pack %s: %s\n", p.Short().c_str(), dry_run ? "would be rewritten" : "rewritten");
  for (const Id& b : r.blobs_dropped) std::printf("  damaged blob %s removed\n", b.Short().c_str());
  if (!dry_run) {
    std::printf("%zu damaged blob(s) removed, %zu kept in %zu new pack(s)\n", r.blobs_dropped.size(), r.blobs_kept,
                r.packs_written);
  }
}
}  // namespace

void RegisterRepair(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand("repair", "Repair a damaged repository");
  cmd->require_subcommand(1);
  auto* index = cmd->add_subcommand("index", "Rebuild the index from the pack files and snapshots");
  index->callback([&g, exit_code] {
    auto repo = OpenRepo(g, LockMode::kExclusive, true, "repair index", /*rebuild_index=*/true);
    if (!repo.ok()) return void(*exit_code = Fail(repo.status()));
    uint64_t packs = 0, blobs = 0;
    Status st = (*repo)->index().ForEachPackSize([&](const Id&, uint64_t) { ++packs; });
    if (st.ok()) st = (*repo)->index().ForEachBlob([&](const Id&, const BlobLocation&) { ++blobs; });
    if (!st.ok()) return void(*exit_code = Fail(st));
    if (g.json) PrintJson({{"packs", packs}, {"blobs", blobs}});
    else if (!g.quiet) std::printf("index rebuilt: %llu packs, %llu blobs\n", (unsigned long long)packs, (unsigned long long)blobs);
  });

  auto* packs = cmd->add_subcommand(
      "packs", "Remove damaged blobs from their packs (found by reading every pack, as 'check --read-data'): "
               "the next create stores them again from the sources that still hold them, which makes every "
               "snapshot that refers to them whole again");
  auto packs_dry_run = std::make_shared<bool>(false);
  packs->add_flag("-n,--dry-run", *packs_dry_run, "Show which packs would be rewritten");
  packs->callback([&g, packs_dry_run, exit_code] {
    auto repo = OpenRepo(g, LockMode::kExclusive, true, "repair packs");
    if (!repo.ok()) return void(*exit_code = Fail(repo.status()));
    CheckOptions c;
    c.read_data = true;
    auto report = CheckRepository(**repo, c);
    if (!report.ok()) return void(*exit_code = Fail(report.status()));
    auto salvaged = SalvagePacks(**repo, report->bad_blobs, *packs_dry_run);
    if (!salvaged.ok()) return void(*exit_code = Fail(salvaged.status()));
    PrintSalvage(g, *salvaged, *packs_dry_run);
    if (!g.json && !g.quiet && salvaged->packs.empty()) std::printf("no pack holds a damaged blob\n");
    if (!g.json && !g.quiet && !*packs_dry_run && !salvaged->blobs_dropped.empty()) {
      std::printf("next: 'jsnap create' of the same paths stores again what the sources still hold; then "
                  "'jsnap check', and 'jsnap repair snapshots' for what is lost for good\n");
    }
  });

  auto* snapshots = cmd->add_subcommand(
      "snapshots", "Rewrite snapshots that refer to lost or damaged data: files missing chunks keep "
                   "what is left and get the suffix .damaged; the new snapshots are tagged 'repaired'");
  struct Opts {
    bool read_data = false;
    bool forget = false;
    bool dry_run = false;
  };
  auto o = std::make_shared<Opts>();
  snapshots->add_flag("--read-data", o->read_data, "Find damaged data by reading every pack (else: missing data only)");
  snapshots->add_flag("--forget", o->forget, "Remove the original snapshots (by default they are kept until you confirm with this flag)");
  snapshots->add_flag("-n,--dry-run", o->dry_run, "Show what would be rewritten");
  snapshots->callback([&g, o, exit_code] {
    auto repo = OpenRepo(g, LockMode::kExclusive, true, "repair snapshots");
    if (!repo.ok()) return void(*exit_code = Fail(repo.status()));
    CheckOptions c;
    c.read_data = o->read_data;
    auto report = CheckRepository(**repo, c);
    if (!report.ok()) return void(*exit_code = Fail(report.status()));
    // Damaged blobs leave the index first: left there, the next create
    // would deduplicate against them and take the damage over.
    auto salvaged = SalvagePacks(**repo, report->bad_blobs, o->dry_run);
    if (!salvaged.ok()) return void(*exit_code = Fail(salvaged.status()));
    if (!g.json) PrintSalvage(g, *salvaged, o->dry_run);
    RepairOptions ro;
    ro.forget_originals = o->forget;
    ro.dry_run = o->dry_run;
    auto repaired = RepairSnapshots(**repo, report->bad_blobs, ro);
    if (!repaired.ok()) return void(*exit_code = Fail(repaired.status()));
    nlohmann::json list = nlohmann::json::array();
    for (const RepairedSnapshot& r : repaired.value()) {
      nlohmann::json paths = nlohmann::json::array();
      for (const auto& p : r.damaged_paths) paths.push_back(JsonString(p));
      list.push_back({{"original", r.original.Hex()},
                      {"repaired", r.repaired.IsZero() ? nlohmann::json(nullptr) : nlohmann::json(r.repaired.Hex())},
                      {"damaged", paths}});
      if (!g.json) {
        std::printf("snapshot %s -> %s\n", r.original.Short().c_str(),
                    r.repaired.IsZero() ? "(nothing left or dry run)" : r.repaired.Short().c_str());
        for (const auto& p : r.damaged_paths) std::printf("  damaged: %s\n", p.c_str());
      }
    }
    if (g.json) {
      PrintJson({{"repaired", list}, {"originals_removed", o->forget && !o->dry_run},
                 {"damaged_blobs_removed", salvaged->blobs_dropped.size()}});
    } else if (repaired->empty()) {
      std::printf("no snapshot refers to lost data\n");
    } else if (!o->forget && !o->dry_run) {
      std::printf("the originals are kept; check the repaired snapshots, then run again with --forget\n");
    }
  });
}

}  // namespace jsnap::cli

#include "commands.h"
#include "jsnap/checker.h"
#include "jsnap/prune.h"

namespace jsnap::cli {

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
      PrintJson({{"repaired", list}, {"originals_removed", o->forget && !o->dry_run}});
    } else if (repaired->empty()) {
      std::printf("no snapshot refers to lost data\n");
    } else if (!o->forget && !o->dry_run) {
      std::printf("the originals are kept; check the repaired snapshots, then run again with --forget\n");
    }
  });
}

}  // namespace jsnap::cli
